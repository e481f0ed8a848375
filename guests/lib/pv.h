/* The paravirtualised CPU interface of an x86-64 PV guest: hypercall
 * wrappers for traps, callbacks, segments, debug registers, descriptors and
 * I/O privilege; helpers for the privileged instructions the hypervisor
 * emulates; and the exception/callback entry points in traps.S. */
#ifndef XG_PV_H
#define XG_PV_H

#include <stddef.h>
#include <stdint.h>
#include "hypercall.h"
#include "xen.h"

/* ---- Hypercalls -------------------------------------------------------- */

static inline long HYPERVISOR_set_trap_table(const struct trap_info *table)
{
	return _hypercall1(long, set_trap_table, table);
}

static inline long HYPERVISOR_set_gdt(const unsigned long *frames,
				      unsigned int entries)
{
	return _hypercall2(long, set_gdt, frames, entries);
}

static inline long HYPERVISOR_stack_switch(unsigned long ss, unsigned long sp)
{
	return _hypercall2(long, stack_switch, ss, sp);
}

static inline long HYPERVISOR_set_callbacks(unsigned long event,
					    unsigned long failsafe,
					    unsigned long syscall)
{
	return _hypercall3(long, set_callbacks, event, failsafe, syscall);
}

static inline long HYPERVISOR_fpu_taskswitch(int set)
{
	return _hypercall1(long, fpu_taskswitch, set);
}

static inline long HYPERVISOR_set_debugreg(int reg, unsigned long value)
{
	return _hypercall2(long, set_debugreg, reg, value);
}

static inline unsigned long HYPERVISOR_get_debugreg(int reg)
{
	return _hypercall1(unsigned long, get_debugreg, reg);
}

/* maddr: machine address of the 8-byte descriptor slot. */
static inline long HYPERVISOR_update_descriptor(uint64_t maddr, uint64_t desc)
{
	return _hypercall2(long, update_descriptor, maddr, desc);
}

static inline long HYPERVISOR_update_va_mapping(unsigned long va, uint64_t pte,
						unsigned long flags)
{
	return _hypercall3(long, update_va_mapping, va, pte, flags);
}

static inline long HYPERVISOR_set_segment_base(int which, unsigned long base)
{
	return _hypercall2(long, set_segment_base, which, base);
}

static inline long HYPERVISOR_mmuext_op(struct mmuext_op *ops,
					unsigned int count,
					unsigned int *pdone,
					unsigned int domid)
{
	return _hypercall4(long, mmuext_op, ops, count, pdone, domid);
}

static inline long HYPERVISOR_callback_op(int cmd, const void *arg)
{
	return _hypercall2(long, callback_op, cmd, arg);
}

static inline long HYPERVISOR_physdev_op(int cmd, void *arg)
{
	return _hypercall2(long, physdev_op, cmd, arg);
}

/* Convenience forms built on the above. */
long pv_register_callback(unsigned int type, unsigned int flags,
			  unsigned long address);
long pv_set_iopl(unsigned int iopl);
long pv_mmuext_baseptr(unsigned int cmd, unsigned long mfn);

/* Machine frame of a virtual address inside the domain's 1:1 region
 * (start_info.mfn_list is the p2m; vaddr = VIRT_BASE + pfn * 4096). */
void pv_init(const struct start_info *si);
unsigned long pv_virt_to_mfn(const void *va);

/* ---- Emulated privileged instructions (guest kernel mode) -------------- */

#define MSR_IA32_TSC            0x00000010
#define MSR_EFER                0xc0000080
#define MSR_FS_BASE             0xc0000100
#define MSR_GS_BASE             0xc0000101
#define MSR_SHADOW_GS_BASE      0xc0000102

#define X86_CR0_PE              (1UL << 0)
#define X86_CR0_TS              (1UL << 3)
#define X86_CR0_PG              (1UL << 31)
#define X86_CR4_PAE             (1UL << 5)
#define EFER_SCE                (1UL << 0)
#define EFER_LME                (1UL << 8)
#define EFER_LMA                (1UL << 10)
#define X86_EFLAGS_IF           (1UL << 9)

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	asm volatile("wrmsr"
		     :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
		     : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#define DEFINE_READ_CR(n)                                                 \
static inline unsigned long read_cr##n(void)                              \
{                                                                         \
	unsigned long v;                                                  \
	asm volatile("mov %%cr" #n ", %0" : "=r"(v) :: "memory");         \
	return v;                                                         \
}
DEFINE_READ_CR(0)
DEFINE_READ_CR(2)
DEFINE_READ_CR(3)
DEFINE_READ_CR(4)
#undef DEFINE_READ_CR

static inline void clts(void)
{
	asm volatile("clts" ::: "memory");
}

static inline void wbinvd(void)
{
	asm volatile("wbinvd" ::: "memory");
}

struct cpuid_result {
	uint32_t eax, ebx, ecx, edx;
};

/* Xen's forced-emulation prefix: ud2; .ascii "xen"; cpuid returns the
 * CPUID the hypervisor's policy gives the guest, Xen leaves included. */
static inline struct cpuid_result forced_cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_result r;

	asm volatile("ud2; .ascii \"xen\"; cpuid"
		     : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
		     : "0"(leaf), "2"(subleaf)
		     : "memory");
	return r;
}

/* ---- Exceptions and callbacks (traps.S) -------------------------------- */

/* Pseudo-vectors for the callbacks, after the 256 real ones. */
#define TRAP_VEC_SYSCALL        256
#define TRAP_VEC_SYSENTER       257
#define TRAP_VEC_EVENT          258
#define TRAP_VEC_FAILSAFE       259
#define TRAP_NR_VECTORS         260

/* The interrupted context as the entry stubs save it, lowest address
 * first.  Handlers may change anything: it is what the iret hypercall
 * returns to.  iret_flags is iret_context.flags (0 or VGCF_in_syscall). */
struct trap_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector;
	uint64_t error_code;    /* 0 where the vector has none */
	uint64_t iret_flags;
	uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(offsetof(struct trap_regs, vector) == 15 * 8, "trap_regs.vector");
_Static_assert(offsetof(struct trap_regs, rip) == 18 * 8, "trap_regs.rip");
_Static_assert(sizeof(struct trap_regs) == 23 * 8, "sizeof trap_regs");

/* Saved CS bits 32-39: the event mask before the exception. */
static inline unsigned int trap_saved_mask(const struct trap_regs *r)
{
	return (unsigned int)(r->cs >> 32) & 0xff;
}

typedef void (*trap_handler_t)(struct trap_regs *regs);

/* Handler for a vector (0-255 or TRAP_VEC_*); NULL restores the default,
 * which prints the frame and crashes the domain. */
void trap_set_handler(unsigned int vector, trap_handler_t handler);

/* Called by the entry stubs. */
void trap_dispatch(struct trap_regs *regs);

/* 256 stubs of 32 bytes each, one per vector: the address for trap_info. */
extern char trap_entries[];
#define TRAP_ENTRY_STRIDE       32
static inline unsigned long trap_entry(unsigned int vector)
{
	return (unsigned long)trap_entries + vector * TRAP_ENTRY_STRIDE;
}

/* Callback entry points (addresses for callback_op / set_callbacks). */
void syscall_entry(void);
void sysenter_entry(void);
void event_entry(void);
void failsafe_entry(void);

/* The failsafe frame's DS, ES, FS, GS of the last failsafe callback. */
extern uint64_t failsafe_segs[4];

/* Save the kernel's callee-saved registers and rsp, then iret to user mode
 * at rip with rsp (CS 0xe033, SS 0xe02b, RFLAGS 0x202: events unmasked)
 * and arg in rdi.  Returns when a handler calls return_to_kernel(value).
 * Needs MMUEXT_NEW_USER_BASEPTR and a stack_switch stack that is not the
 * caller's. */
long enter_user(unsigned long rip, unsigned long rsp, unsigned long arg);

/* From a handler (guest kernel mode): abandon the handler's frame and
 * return value from the pending enter_user. */
void return_to_kernel(long value) __attribute__((noreturn));

/* Set or clear vcpu_info.evtchn_upcall_mask the way Xen defines for every
 * PV guest: an iret (to the next instruction, in kernel mode) whose RFLAGS.IF
 * is the inverse of the wanted mask. */
void xen_set_event_mask(int masked);

#define XG_STR_(x)              #x
#define XG_STR(x)               XG_STR_(x)

/* Jump to the iret hypercall with the iret frame (flags, rip, cs, rflags,
 * rsp, ss) already at rsp: the hypercall page entry pushes rcx, r11, rax. */
#define HYPERCALL_IRET_ENTRY    "hypercall_page + 23 * 32"

#endif /* XG_PV_H */
