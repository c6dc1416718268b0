// Package ethtool runs the few SIOCETHTOOL ioctls sluice needs (channel
// counts, legacy offload switches) without the ethtool binary. Each call
// acts on the device named in the calling thread's network namespace: the
// ioctl resolves the name where its socket lives.
package ethtool

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Channels is struct ethtool_channels (include/uapi/linux/ethtool.h).
type Channels struct {
	cmd         uint32
	MaxRx       uint32
	MaxTx       uint32
	MaxOther    uint32
	MaxCombined uint32
	Rx          uint32
	Tx          uint32
	Other       uint32
	Combined    uint32
}

// GetChannels runs ETHTOOL_GCHANNELS on dev.
func GetChannels(dev string) (Channels, error) {
	ch := Channels{cmd: unix.ETHTOOL_GCHANNELS}
	err := ioctl(dev, unsafe.Pointer(&ch))
	return ch, err
}

// value is struct ethtool_value, the argument of the legacy get/set commands.
type value struct {
	cmd  uint32
	data uint32
}

// SetValue runs a legacy ethtool set command (such as ETHTOOL_STXCSUM,
// ETHTOOL_STSO, ETHTOOL_SGSO) with data v on dev.
func SetValue(dev string, cmd, v uint32) error {
	val := value{cmd: cmd, data: v}
	return ioctl(dev, unsafe.Pointer(&val))
}

// ifreqData is struct ifreq with ifr_data: the name, then the pointer,
// padded to the union's 24 bytes.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [8]byte
}

// ioctl passes the command block at data to SIOCETHTOOL for dev.
func ioctl(dev string, data unsafe.Pointer) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], dev)
	ifr.data = data
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
