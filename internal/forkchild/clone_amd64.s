#include "textflag.h"

#define SYS_clone 56
#define SYS_exit_group 231

// func cloneStack(stack uintptr, a *call) (pid uintptr, errno syscall.Errno)
//
// *a (call: conn, start, slot, m, fn, g, flags, tls) rides
// into the child in registers that the system call preserves: after clone
// the child has the parent's registers but a new stack, on which nothing
// of the caller's frame exists, and *a lies in memory it does not have.
// conn..m go in R12, R13, BX, R9, fn in R14 and g in R15; flags and tls
// are clone's own arguments (DI and R8: with CLONE_SETTLS the child's FS
// base is tls, where morestack finds the stand-in g). The child calls fn,
// the ABIInternal entry of childMain, directly: the ABI0 wrapper that a
// CALL by name would go through loads g from thread-local storage and,
// under -race, calls the race detector. R14 (g) and R15 are clobbered in
// the parent too; Go restores R14 after every call to an assembly
// function, and R15 is scratch.
TEXT ·cloneStack(SB),NOSPLIT|NOFRAME,$0-32
	MOVQ	a+8(FP), AX
	MOVQ	0(AX), R12
	MOVQ	8(AX), R13
	MOVQ	16(AX), BX
	MOVQ	24(AX), R9
	MOVQ	32(AX), R14
	MOVQ	40(AX), R15
	MOVQ	48(AX), DI // flags
	MOVQ	56(AX), R8 // tls
	MOVQ	stack+0(FP), SI
	XORQ	DX, DX   // parent_tid
	XORQ	R10, R10 // child_tid
	MOVQ	$SYS_clone, AX
	SYSCALL
	TESTQ	AX, AX
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	parent
	NEGQ	AX
	MOVQ	$0, pid+16(FP)
	MOVQ	AX, errno+24(FP)
	RET
parent:
	MOVQ	AX, pid+16(FP)
	MOVQ	$0, errno+24(FP)
	RET

child:
	// ABIInternal: the argument in AX, R14 is g (the stand-in), X15 is
	// zero; the callee may spill AX to 0(SP). The copy of *a lies above
	// that.
	XORQ	BP, BP // no frame to unwind to
	SUBQ	$48, SP
	MOVQ	R12, 8(SP)
	MOVQ	R13, 16(SP)
	MOVQ	BX, 24(SP)
	MOVQ	R9, 32(SP)
	LEAQ	8(SP), AX
	MOVQ	R14, CX
	MOVQ	R15, R14
	XORPS	X15, X15
	CALL	CX
fail:
	MOVQ	$1, DI
	MOVQ	$SYS_exit_group, AX
	SYSCALL
	JMP	fail
