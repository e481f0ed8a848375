/* Exception and callback entry points of an x86-64 PV guest kernel.
 *
 * The hypervisor delivers an exception or callback by pushing a bounce
 * frame on the guest kernel stack, lowest address first:
 *     RCX, R11, [DS, ES, FS, GS: failsafe only], [error code], RIP, CS,
 *     RFLAGS, RSP, SS
 * (saved CS bits 32-39 = the event mask before delivery) and jumping to the
 * handler with rcx and r11 clobbered.  Every entry below pops rcx and r11
 * back into their registers, pushes the iret flags, error code and vector
 * so that all frames look alike (struct trap_regs in pv.h), saves the other
 * registers and calls trap_dispatch().  The way back is the iret hypercall:
 * with flags, RIP, CS, RFLAGS, RSP, SS on the stack, jump to the iret
 * entry of the hypercall page, which pushes rcx, r11, rax itself. */
#include "xen.h"

#define IRET_ENTRY	(hypercall_page + __HYPERVISOR_iret * 32)

	.text

/* Common tail: rsp -> vector, error code, iret flags, RIP, CS, ... */
	.type trap_common, @function
trap_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi
	movq	%rsp, %rbx		/* callee-saved: the frame, after the call */
	andq	$-16, %rsp		/* the C ABI wants a 16-byte aligned call */
	call	trap_dispatch
	movq	%rbx, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector, error code */
	/* rsp -> iret flags, RIP, CS, RFLAGS, RSP, SS: as the iret entry wants */
	jmp	IRET_ENTRY
	.size trap_common, . - trap_common

/* One 32-byte stub per vector (trap_entry(v) = trap_entries + v * 32).
 * Only 8, 10-14 and 17 come with an error code; for those the error code's
 * slot becomes the iret flags and a copy of it goes below. */
	.balign 32
	.globl trap_entries
	.type trap_entries, @function
trap_entries:
	.set	vec, 0
	.rept	256
	.balign	32
1:	popq	%rcx
	popq	%r11
	.if (vec == 8) | (vec == 10) | (vec == 11) | (vec == 12) | (vec == 13) | (vec == 14) | (vec == 17)
	pushq	(%rsp)
	movq	$0, 8(%rsp)
	.else
	pushq	$0			/* iret flags */
	pushq	$0			/* error code */
	.endif
	pushq	$vec
	jmp	trap_common
	.org	1b + 32, 0xcc		/* the assembler fails if a stub outgrows its slot */
	.set	vec, vec + 1
	.endr
	.size trap_entries, . - trap_entries

/* Callbacks: frames without error code, vectors after the real 256. */
.macro CALLBACK_ENTRY name, vector
	.globl \name
	.type \name, @function
\name:
	popq	%rcx
	popq	%r11
	pushq	$0			/* iret flags */
	pushq	$0			/* error code */
	pushq	$\vector
	jmp	trap_common
	.size \name, . - \name
.endm

	CALLBACK_ENTRY syscall_entry, 256
	CALLBACK_ENTRY sysenter_entry, 257
	CALLBACK_ENTRY event_entry, 258

/* The failsafe frame has DS, ES, FS, GS between R11 and RIP: keep them in
 * failsafe_segs and drop them, so the rest is the usual frame. */
	.globl failsafe_entry
	.type failsafe_entry, @function
failsafe_entry:
	popq	%rcx
	popq	%r11
	popq	failsafe_segs + 0(%rip)
	popq	failsafe_segs + 8(%rip)
	popq	failsafe_segs + 16(%rip)
	popq	failsafe_segs + 24(%rip)
	pushq	$0
	pushq	$0
	pushq	$259
	jmp	trap_common
	.size failsafe_entry, . - failsafe_entry

/* long enter_user(rip, rsp, arg) */
	.globl enter_user
	.type enter_user, @function
enter_user:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, user_return_rsp(%rip)
	pushq	$FLAT_RING3_SS64	/* SS */
	pushq	%rsi			/* RSP */
	pushq	$0x202			/* RFLAGS: IF set, events unmasked */
	pushq	$FLAT_RING3_CS64	/* CS: RPL 3 means user mode */
	pushq	%rdi			/* RIP */
	pushq	$0			/* flags */
	movq	%rdx, %rdi		/* iret keeps all registers but rax, rcx, r11 */
	jmp	IRET_ENTRY
	.size enter_user, . - enter_user

/* void return_to_kernel(long value): back onto enter_user's stack. */
	.globl return_to_kernel
	.type return_to_kernel, @function
return_to_kernel:
	movq	user_return_rsp(%rip), %rsp
	movq	%rdi, %rax
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret
	.size return_to_kernel, . - return_to_kernel

/* void xen_set_event_mask(int masked): iret to the next instruction in
 * kernel mode (CS with RPL 0) with RFLAGS.IF = !masked; the iret hypercall
 * sets the event mask from it. */
	.globl xen_set_event_mask
	.type xen_set_event_mask, @function
xen_set_event_mask:
	movq	%rsp, %rax		/* resume with the return address on top */
	pushq	$FLAT_KERNEL_SS64	/* SS */
	pushq	%rax			/* RSP */
	pushq	$0x202			/* RFLAGS */
	testl	%edi, %edi
	jz	1f
	movq	$0x002, (%rsp)		/* IF clear: masked */
1:	pushq	$FLAT_KERNEL_CS64_RPL0	/* CS */
	leaq	2f(%rip), %rax
	pushq	%rax			/* RIP */
	pushq	$0			/* flags */
	jmp	IRET_ENTRY
2:	ret
	.size xen_set_event_mask, . - xen_set_event_mask

	.bss
	.balign 8
	.globl failsafe_segs
failsafe_segs:
	.skip	32
user_return_rsp:
	.skip	8

	.section .note.GNU-stack, "", @progbits
