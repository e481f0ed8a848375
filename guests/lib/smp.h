/* More than one vCPU: VCPUOP_initialise / VCPUOP_up of secondary vCPUs, and
 * the id of the vCPU running the caller.
 *
 * Every secondary vCPU runs on its own stack from smp_stacks[]; vCPU 0 runs on
 * any other stack (the boot stack).  smp_id() is therefore the stack the
 * caller runs on: exceptions and event upcalls taken in kernel mode stay on
 * the interrupted stack, so it holds in handlers too.  (These guests never
 * enter user mode on a secondary vCPU.) */
#ifndef XG_SMP_H
#define XG_SMP_H

#include <stdint.h>
#include "hypercall.h"
#include "xen.h"

#define SMP_MAX_VCPUS           4
#define SMP_STACK_SIZE          16384

/* What smp_secondary_entry finds in rsi (VCPUOP_initialise loads it from
 * user_regs): lets a guest check that the context's registers arrived. */
#define SMP_BOOT_MAGIC          0x58656e6f6c697468UL    /* "Xenolith" */

extern char smp_stacks[SMP_MAX_VCPUS - 1][SMP_STACK_SIZE];

static inline unsigned int smp_id(void)
{
	unsigned long sp, off;

	asm volatile("mov %%rsp, %0" : "=r"(sp));
	/* -1: a stack's top address belongs to it, not to the next stack. */
	off = sp - 1 - (unsigned long)smp_stacks;
	if (off < sizeof(smp_stacks))
		return 1 + (unsigned int)(off / SMP_STACK_SIZE);
	return 0;
}

/* The first address above vCPU n's stack (n >= 1). */
static inline unsigned long smp_stack_top(unsigned int vcpu)
{
	return (unsigned long)smp_stacks[vcpu - 1] + SMP_STACK_SIZE;
}

/* Runs on the new vCPU with its events masked (evtchn_upcall_mask = 1). If
 * it returns, the vCPU takes itself down (VCPUOP_down). */
typedef void (*smp_entry_t)(unsigned int vcpu, void *arg);

/* What each secondary vCPU saw when it started. */
struct smp_boot_info {
	volatile int started;
	unsigned long rdi, rsi;         /* as VCPUOP_initialise loaded them */
	unsigned long rsp;              /* at smp_secondary_entry */
};
extern struct smp_boot_info smp_boot[SMP_MAX_VCPUS];

/* Keeps the L4 of the running address space for the new vCPUs' ctrlreg[3]
 * (and calls pv_init). */
void smp_init(const struct start_info *si);

/* Fills *ctx for vCPU vcpu as Linux does for a secondary CPU: kernel mode on
 * the flat selectors, rip = smp_secondary_entry, rsp = kernel_sp = top of
 * the vCPU's stack, rdi = vcpu, rsi = SMP_BOOT_MAGIC, ctrlreg[3] = the
 * current L4, the event, failsafe and syscall callbacks of traps.S, and the
 * trap table traps (set_trap_table format, NULL for none) in trap_ctxt. */
void smp_fill_context(struct vcpu_guest_context *ctx, unsigned int vcpu,
		      const struct trap_info *traps);

/* VCPUOP_initialise of vCPU vcpu (1 .. SMP_MAX_VCPUS-1) with
 * smp_fill_context, to run fn(vcpu, arg) once up.  Also masks the vCPU's
 * events in shared_info when events_init has mapped it.  Returns the
 * hypercall's result. */
long smp_vcpu_initialise(unsigned int vcpu, smp_entry_t fn, void *arg,
			 const struct trap_info *traps);

/* smp_vcpu_initialise, then VCPUOP_up.  Returns the first failure or 0. */
long smp_vcpu_start(unsigned int vcpu, smp_entry_t fn, void *arg,
		    const struct trap_info *traps);

/* A trap table for the exceptions 0-19 (trap_entry(v), DPL 0, 3 for int3
 * and into), terminated, for set_trap_table and smp_fill_context. */
const struct trap_info *smp_default_traps(void);

/* Where a secondary vCPU starts (traps.S style stub in smp.c). */
void smp_secondary_entry(void);

/* VCPUOP_is_up: 1 if up, 0 if down, -ENOENT for no such vCPU. */
static inline long vcpu_is_up(unsigned int vcpu)
{
	return HYPERVISOR_vcpu_op(VCPUOP_is_up, vcpu, NULL);
}

#endif /* XG_SMP_H */
