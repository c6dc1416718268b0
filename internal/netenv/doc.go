// Package netenv is sluice's system-facing preflight and neighbour layer:
// what Serve and Dial ask the kernel before and besides the data path. It
// holds no AF_XDP or BPF code (those are afxdp/ and bpf/); it talks to the
// kernel through rtnetlink and sock_diag (vishvananda/netlink), ethtool
// ioctls and capget.
//
// # Preflight
//
// Each check returns nil or an *Error whose message names the interface,
// address or port and says what to do, and which matches one of the Err*
// sentinels with errors.Is:
//
//	CheckInterface       ErrNoInterface (lists the interfaces present), ErrInterfaceDown
//	CheckAddress         ErrAddressNotOnInterface (lists the addresses it has)
//	CheckPrivileges      ErrPermission (also os.ErrPermission): CAP_NET_ADMIN, CAP_NET_RAW,
//	                     CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN for both), and
//	                     RLIMIT_MEMLOCK or CAP_IPC_LOCK for the UMEM
//	CheckKernelListener  ErrKernelListener: a kernel TCP listener on the same (address, port)
//	CheckQueues          ErrQueueCount, with the ethtool -L command for the driver's channel model
//	CheckMTU             ErrMTU: a full-MTU frame must fit a UMEM frame after the headrooms
//
// Preflight runs them all and joins what fails. Describe reports the
// device (driver, queues, MTU, MAC, addresses, attached XDP program) for
// the start-up line.
//
// # Neighbours
//
// Replies on a passive open need no resolution at all: sluice sends them
// to the MAC the flow's frames came from (and from the MAC they were sent
// to), so nothing here is consulted on the accept path, and a server
// works whatever the kernel's neighbour table holds. Only an active open
// (Dial) needs a MAC it has not seen: Resolve asks the kernel for the route
// and the next hop's neighbour entry, and makes the kernel resolve it when
// the entry is missing, so ARP and Neighbour Discovery stay the kernel's job
// (their frames pass the XDP program).
//
// # Namespaces
//
// Everything acts in the network namespace of the calling OS thread: call
// it from the namespace the interface lives in (testbed's Host.Do in
// tests). No function starts goroutines that open sockets.
package netenv
