package syncookie

// Options that do not fit in the cookie ride in the low bits of our TSval
// (Linux cookie_init_timestamp): the peer echoes our TSval in the TSecr of
// its ACK, and DecodeTS reads them back. Layout of the low TSBits bits:
//
//	bits 0-3  window scale shift, 15 (WScaleNone) = no window scale option
//	bit  4    SACK-permitted
//	bit  5    ECN (reserved: sluice does not negotiate ECN, always 0)
//
// This works only when the peer's SYN carried timestamps (RFC 7323 §3.2:
// otherwise our SYN-ACK carries none and there is nothing to echo).

// TSBits is how many low TSval bits carry options.
const TSBits = 6

const (
	tsMask     = 1<<TSBits - 1
	wscaleMask = 0xf
	// WScaleNone in the window-scale bits means "no window scale option".
	WScaleNone = wscaleMask
	tsSACK     = 1 << 4
	// TSECN is the ECN bit, kept clear (reserved for RFC 3168 support).
	TSECN = 1 << 5
)

// EncodeTS returns the TSval to put in a cookie SYN-ACK: tsval (our
// timestamp clock, offset included) with its low TSBits bits replaced by the
// options. The result is never above tsval (Linux: "if ts > ts_now, ts -=
// 1 << TSBITS"), so our later TSvals, read from the same clock, never go
// backwards (RFC 7323 §5.4 requires monotonic TSvals). A shift above 14
// is sent as 14 (RFC 7323 §2.3).
func EncodeTS(tsval uint32, wscale uint8, hasWS, sackOK bool) uint32 {
	opts := uint32(WScaleNone)
	if hasWS {
		opts = uint32(min(wscale, 14))
	}
	if sackOK {
		opts |= tsSACK
	}
	ts := tsval&^tsMask | opts
	if int32(ts-tsval) > 0 {
		ts -= 1 << TSBits
	}
	return ts
}

// DecodeTS reads the options back from the TSecr of the ACK that completes
// a cookie handshake. Only call it when that ACK carries the timestamp
// option; without it the connection has no window scaling and no SACK.
func DecodeTS(tsecr uint32) (wscale uint8, hasWS, sackOK bool) {
	sackOK = tsecr&tsSACK != 0
	if ws := tsecr & wscaleMask; ws != WScaleNone {
		wscale, hasWS = uint8(min(ws, 14)), true
	}
	return wscale, hasWS, sackOK
}
