#include "textflag.h"

// func owner() uintptr: the current goroutine's g, from thread-local storage.
TEXT ·owner(SB),NOSPLIT,$0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET
