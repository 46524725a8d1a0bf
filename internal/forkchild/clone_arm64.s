#include "textflag.h"

#define SYS_clone 220
#define SYS_exit_group 94

// func cloneStack(stack uintptr, a *call) (pid uintptr, errno syscall.Errno)
//
// clone(flags, newsp, parent_tid, tls, child_tid) in R0-R4. *a (call:
// conn, start, slot, m, fn, g, flags, tls) rides into the
// child in registers that the system call preserves: after clone the
// child has the parent's registers but a new stack, on which nothing of
// the caller's frame exists, and *a lies in memory it does not have.
// conn..m go in R10-R13, fn in R14 and g in R15; flags and tls are
// clone's own arguments (tls matters only with CLONE_SETTLS in flags,
// which arm64 does not set: see clone_arm64.go). The child calls fn, the
// ABIInternal entry of childMain, directly: the ABI0 wrapper that a CALL
// by name would go through may call the race detector. The parent leaves
// g (R28) and the frame pointer (R29) alone.
TEXT ·cloneStack(SB),NOSPLIT|NOFRAME,$0-32
	MOVD	a+8(FP), R9
	MOVD	0(R9), R10
	MOVD	8(R9), R11
	MOVD	16(R9), R12
	MOVD	24(R9), R13
	MOVD	32(R9), R14
	MOVD	40(R9), R15
	MOVD	48(R9), R0 // flags
	MOVD	stack+0(FP), R1
	MOVD	ZR, R2 // parent_tid
	MOVD	56(R9), R3 // tls
	MOVD	ZR, R4 // child_tid
	MOVD	$SYS_clone, R8
	SVC
	CBZ	R0, child
	CMN	$4095, R0
	BCS	fail
	MOVD	R0, pid+16(FP)
	MOVD	ZR, errno+24(FP)
	RET
fail:
	NEG	R0, R0
	MOVD	ZR, pid+16(FP)
	MOVD	R0, errno+24(FP)
	RET

child:
	// On the new stack (16-byte aligned). ABIInternal: the argument in
	// R0, g (the stand-in) in R28. The frame below fn's: 0(RSP) is this
	// frame's saved-LR slot (none: zero), 8(RSP) the argument's spill
	// slot, which fn may write; the copy of *a lies above that, at
	// 16(RSP).
	MOVD	ZR, R29 // no frame to unwind to
	SUB	$48, RSP
	MOVD	ZR, 0(RSP)
	MOVD	ZR, 8(RSP)
	MOVD	R10, 16(RSP)
	MOVD	R11, 24(RSP)
	MOVD	R12, 32(RSP)
	MOVD	R13, 40(RSP)
	ADD	$16, RSP, R0
	MOVD	R15, g
	CALL	(R14)
exit:
	MOVD	$1, R0
	MOVD	$SYS_exit_group, R8
	SVC
	B	exit

// func readTPIDR() uintptr
TEXT ·readTPIDR(SB),NOSPLIT|NOFRAME,$0-8
	MRS	TPIDR_EL0, R0
	MOVD	R0, ret+0(FP)
	RET
