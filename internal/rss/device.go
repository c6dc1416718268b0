package rss

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ethtool ABI (include/uapi/linux/ethtool.h).
const (
	cmdGetRXFH    = 0x29 // ETHTOOL_GRXFH: hashed fields per flow type
	cmdGetRSSH    = 0x46 // ETHTOOL_GRSSH: key, indirection table, function
	tcpV4Flow     = 0x01 // TCP_V4_FLOW
	tcpV6Flow     = 0x05 // TCP_V6_FLOW
	hashToeplitz  = 1    // ETH_RSS_HASH_TOP
	xfrmNoChange  = 0xff // RXH_XFRM_NO_CHANGE
	rxfhHeaderLen = 24   // struct ethtool_rxfh up to rss_config[]
	rxnfcLen      = 192  // struct ethtool_rxnfc (its data field at 8)
)

// Read reads dev's RSS configuration (in the calling thread's network
// namespace). It fails when the device has none (veth: EOPNOTSUPP), uses
// another hash function than Toeplitz, or transforms the input (a
// symmetric hash).
func Read(dev string) (*Table, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// First the sizes, then the table and key (as ethtool -x does).
	hdr := make([]byte, rxfhHeaderLen)
	binary.NativeEndian.PutUint32(hdr, cmdGetRSSH)
	if err := ioctl(fd, dev, hdr); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GRSSH: %w", err)
	}
	indir := int(binary.NativeEndian.Uint32(hdr[8:]))
	keyLen := int(binary.NativeEndian.Uint32(hdr[12:]))
	if indir == 0 || keyLen == 0 {
		return nil, fmt.Errorf("ETHTOOL_GRSSH: indirection table of %d entries, key of %d octets", indir, keyLen)
	}
	buf := make([]byte, rxfhHeaderLen+4*indir+keyLen)
	copy(buf, hdr)
	if err := ioctl(fd, dev, buf); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GRSSH: %w", err)
	}
	if hf := buf[16]; hf != hashToeplitz {
		return nil, fmt.Errorf("hash function %#x is not Toeplitz", hf)
	}
	if x := buf[17]; x != 0 && x != xfrmNoChange {
		return nil, fmt.Errorf("input transform %#x (symmetric hash)", x)
	}
	t := &Table{Indir: make([]uint32, indir), Key: append([]byte(nil), buf[rxfhHeaderLen+4*indir:]...)}
	for i := range t.Indir {
		t.Indir[i] = binary.NativeEndian.Uint32(buf[rxfhHeaderLen+4*i:])
	}
	if t.Fields4, err = hashFields(fd, dev, tcpV4Flow); err != nil {
		return nil, err
	}
	if t.Fields6, err = hashFields(fd, dev, tcpV6Flow); err != nil {
		return nil, err
	}
	return t, nil
}

// hashFields runs ETHTOOL_GRXFH for one flow type.
func hashFields(fd int, dev string, flow uint32) (Fields, error) {
	b := make([]byte, rxnfcLen)
	binary.NativeEndian.PutUint32(b, cmdGetRXFH)
	binary.NativeEndian.PutUint32(b[4:], flow)
	if err := ioctl(fd, dev, b); err != nil {
		return 0, fmt.Errorf("ETHTOOL_GRXFH: %w", err)
	}
	return Fields(binary.NativeEndian.Uint64(b[8:])), nil
}

// ifreqData is struct ifreq with ifr_data, padded to the union's size.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [8]byte
}

// ioctl passes the command block b to SIOCETHTOOL for dev.
func ioctl(fd int, dev string, b []byte) error {
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], dev)
	ifr.data = unsafe.Pointer(&b[0])
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(b)
	if e != 0 {
		return e
	}
	return nil
}
