/* Entry point, Xen ELF notes and hypercall page for PV x86-64 test guests. */
#include "xen.h"

#define ELFNOTE(type, desctype, descdata)               \
	.pushsection .note.Xen, "a", @note;             \
	.balign 4;                                      \
	.long 2f - 1f;          /* namesz */            \
	.long 4f - 3f;          /* descsz */            \
	.long type;                                     \
1:	.asciz "Xen";                                   \
2:	.balign 4;                                      \
3:	desctype descdata;                              \
4:	.balign 4;                                      \
	.popsection

ELFNOTE(XEN_ELFNOTE_GUEST_OS,      .asciz, "Xenolith-test")
ELFNOTE(XEN_ELFNOTE_GUEST_VERSION, .asciz, "0.1")
ELFNOTE(XEN_ELFNOTE_XEN_VERSION,   .asciz, "xen-3.0")
ELFNOTE(XEN_ELFNOTE_LOADER,        .asciz, "generic")
ELFNOTE(XEN_ELFNOTE_VIRT_BASE,     .quad,  XG_VIRT_BASE)
ELFNOTE(XEN_ELFNOTE_PADDR_OFFSET,  .quad,  0)
ELFNOTE(XEN_ELFNOTE_ENTRY,         .quad,  _start)
ELFNOTE(XEN_ELFNOTE_HYPERCALL_PAGE, .quad, hypercall_page)
ELFNOTE(XEN_ELFNOTE_PAE_MODE,      .asciz, "yes")

/* One page, filled in by the hypervisor: 32 bytes per hypercall. */
	.pushsection .text.hypercall_page, "ax", @progbits
	.balign 4096
	.globl hypercall_page
	.type hypercall_page, @object
hypercall_page:
	.fill 4096, 1, 0xcc
	.size hypercall_page, . - hypercall_page
	.popsection

/* Entered in 64-bit mode: rsi = start_info, rsp = bootstrap stack. */
	.section .text.entry, "ax", @progbits
	.globl _start
	.type _start, @function
_start:
	mov	%rsi, %r12
	cld
	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb
	lea	boot_stack_top(%rip), %rsp
	xor	%ebp, %ebp
	mov	%r12, %rdi
	call	start_kernel
1:	ud2
	jmp	1b
	.size _start, . - _start

	.section .bss.stack, "aw", @nobits
	.balign 4096
boot_stack:
	.skip 16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
