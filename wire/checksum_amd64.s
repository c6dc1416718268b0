#include "textflag.h"

// Both routines add little-endian 64-bit words in one add-with-carry
// chain: DECQ and LEAQ leave the carry flag alone, so it runs across
// iterations, and ADCQ $0 twice folds the last carry back in (the
// end-around carry of RFC 1071 §2(B); the second covers 2^64-1 + 1).
// Only whole 32-octet blocks are handled; callers sum the tail.

// func sumBlocks(b []byte) uint64
TEXT ·sumBlocks(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	SHRQ $5, CX
	XORQ AX, AX
	TESTQ CX, CX
	JZ sumdone
sumloop:
	ADCQ 0(SI), AX
	ADCQ 8(SI), AX
	ADCQ 16(SI), AX
	ADCQ 24(SI), AX
	LEAQ 32(SI), SI
	DECQ CX
	JNZ sumloop
	ADCQ $0, AX
	ADCQ $0, AX
sumdone:
	MOVQ AX, ret+24(FP)
	RET

// func copySum(dst, src []byte) uint64
TEXT ·copySum(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $5, CX
	XORQ AX, AX
	TESTQ CX, CX
	JZ copydone
copyloop:
	MOVQ 0(SI), R8
	MOVQ 8(SI), R9
	MOVQ 16(SI), R10
	MOVQ 24(SI), R11
	ADCQ R8, AX
	ADCQ R9, AX
	ADCQ R10, AX
	ADCQ R11, AX
	MOVQ R8, 0(DI)
	MOVQ R9, 8(DI)
	MOVQ R10, 16(DI)
	MOVQ R11, 24(DI)
	LEAQ 32(SI), SI
	LEAQ 32(DI), DI
	DECQ CX
	JNZ copyloop
	ADCQ $0, AX
	ADCQ $0, AX
copydone:
	MOVQ AX, ret+48(FP)
	RET
