//go:build race

#include "textflag.h"

// See atomic_race.go. XCHG and LOCK'ed instructions are sequentially
// consistent on amd64; a plain MOV loads with acquire semantics.

// func load32(p *uint32) uint32
TEXT ·load32(SB),NOSPLIT,$0-12
	MOVQ	p+0(FP), AX
	MOVL	0(AX), AX
	MOVL	AX, ret+8(FP)
	RET

// func store32(p *uint32, v uint32)
TEXT ·store32(SB),NOSPLIT,$0-12
	MOVQ	p+0(FP), BX
	MOVL	v+8(FP), AX
	XCHGL	AX, 0(BX)
	RET

// func store64(p *int64, v int64)
TEXT ·store64(SB),NOSPLIT,$0-16
	MOVQ	p+0(FP), BX
	MOVQ	v+8(FP), AX
	XCHGQ	AX, 0(BX)
	RET

// func cas32(p *uint32, old, new uint32) bool
TEXT ·cas32(SB),NOSPLIT,$0-17
	MOVQ	p+0(FP), BX
	MOVL	old+8(FP), AX
	MOVL	new+12(FP), CX
	LOCK
	CMPXCHGL	CX, 0(BX)
	SETEQ	ret+16(FP)
	RET

// func add32(p *uint32, d uint32)
TEXT ·add32(SB),NOSPLIT,$0-12
	MOVQ	p+0(FP), BX
	MOVL	d+8(FP), AX
	LOCK
	XADDL	AX, 0(BX)
	RET

// func add64(p *uint64, d uint64)
TEXT ·add64(SB),NOSPLIT,$0-16
	MOVQ	p+0(FP), BX
	MOVQ	d+8(FP), AX
	LOCK
	XADDQ	AX, 0(BX)
	RET
