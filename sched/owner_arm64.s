#include "textflag.h"

// func owner() uintptr: the current goroutine's g (register R28, "g").
TEXT ·owner(SB),NOSPLIT,$0-8
	MOVD g, R0
	MOVD R0, ret+0(FP)
	RET
