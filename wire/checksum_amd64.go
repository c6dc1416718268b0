package wire

// sumBlocks returns the ones' complement sum of b's whole 32-octet blocks
// as little-endian 64-bit words, carries folded in, not reduced to 16
// bits (checksum_amd64.s).
//
//go:noescape
func sumBlocks(b []byte) uint64

// copySum copies src's whole 32-octet blocks into dst and returns their
// sum as sumBlocks does, in one pass (checksum_amd64.s). dst must hold
// them and must not overlap src.
//
//go:noescape
func copySum(dst, src []byte) uint64
