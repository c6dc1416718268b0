package testbed

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value (include/uapi/linux/ethtool.h).
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data: a 16-byte name, then the pointer.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [8]byte // pad the union to its 24 bytes
}

// offloadsOff turns off TX checksum offload, TSO and GSO on dev in the
// calling thread's namespace, with the legacy SIOCETHTOOL set commands
// (no dependency on the ethtool binary).
func offloadsOff(dev string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, cmd := range []uint32{unix.ETHTOOL_STSO, unix.ETHTOOL_SGSO, unix.ETHTOOL_STXCSUM} {
		v := ethtoolValue{cmd: cmd, data: 0}
		var ifr ifreqData
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&v)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
			return fmt.Errorf("ethtool cmd %#x on %s: %w", cmd, dev, e)
		}
	}
	return nil
}
