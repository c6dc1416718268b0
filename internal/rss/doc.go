// Package rss computes where a NIC's receive-side scaling puts a TCP
// flow: the Toeplitz hash (Microsoft's RSS specification, as Linux
// drivers implement it) of the fields the device hashes, and the queue
// its indirection table maps the hash to. Read reads a device's key,
// table and hash fields with the ethtool ioctls (ETHTOOL_GRSSH,
// ETHTOOL_GRXFH), as `ethtool -x` and `ethtool -n <dev> rx-flow-hash`
// do.
//
// Toeplitz is linear over XOR, so a search over one field (Search, over
// the destination port of the flow's frames) hashes the fixed fields once
// and each candidate port in 16 steps.
package rss
