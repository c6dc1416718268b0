package afxdp

// Stats are a socket's counters: the kernel's (XDP_STATISTICS) and the
// wakeup syscalls this package made.
type Stats struct {
	RxDropped            uint64 // frames dropped for reasons other than a full RX ring or empty fill ring
	RxInvalidDescs       uint64 // invalid descriptors on the fill ring
	TxInvalidDescs       uint64 // invalid descriptors on the TX ring
	RxRingFull           uint64 // frames dropped because the RX ring was full
	RxFillRingEmptyDescs uint64 // times the fill ring was empty when a frame came
	TxRingEmptyDescs     uint64 // times the kernel found the TX ring empty
	TxWakeups            uint64 // sendto calls made by WakeupTx
	FillWakeups          uint64 // recvfrom calls made by WakeupFill
}

// Stats reads the kernel's XDP_STATISTICS for the socket.
func (s *Socket) Stats() (Stats, error) {
	if s.fd < 0 {
		return Stats{}, &Error{Op: "XDP_STATISTICS", Ifindex: s.ifindex, Queue: s.queue, Sentinel: ErrClosed}
	}
	k, err := xdpStatistics(s.fd)
	if err != nil {
		return Stats{}, opError("XDP_STATISTICS", s.ifindex, s.queue, err)
	}
	return Stats{
		RxDropped:            k.Rx_dropped,
		RxInvalidDescs:       k.Rx_invalid_descs,
		TxInvalidDescs:       k.Tx_invalid_descs,
		RxRingFull:           k.Rx_ring_full,
		RxFillRingEmptyDescs: k.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs:     k.Tx_ring_empty_descs,
		TxWakeups:            s.txWakeups,
		FillWakeups:          s.fillWakeup,
	}, nil
}
