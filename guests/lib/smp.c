/* Secondary vCPUs: a vcpu_guest_context for VCPUOP_initialise, the entry
 * stub, and the per-vCPU stacks smp_id() is derived from. */
#include "events.h"
#include "lib.h"
#include "pv.h"
#include "smp.h"

#include "errno.h"

char smp_stacks[SMP_MAX_VCPUS - 1][SMP_STACK_SIZE] __attribute__((aligned(4096)));
struct smp_boot_info smp_boot[SMP_MAX_VCPUS];

static unsigned long l4_mfn;
static struct {
	smp_entry_t fn;
	void *arg;
} entries[SMP_MAX_VCPUS];
static struct vcpu_guest_context boot_ctx;

void smp_secondary_main(unsigned long rdi, unsigned long rsi, unsigned long rsp);

/* rsp = top of the vCPU's stack (16-byte aligned), rdi/rsi as loaded from
 * user_regs; the call makes the usual C frame. */
asm(".text\n"
    ".globl smp_secondary_entry\n"
    ".type smp_secondary_entry, @function\n"
    "smp_secondary_entry:\n"
    "	movq	%rsp, %rdx\n"
    "	andq	$-16, %rsp\n"
    "	xorl	%ebp, %ebp\n"
    "	call	smp_secondary_main\n"
    "1:	ud2\n"
    "	jmp	1b\n"
    ".size smp_secondary_entry, . - smp_secondary_entry\n");

void smp_secondary_main(unsigned long rdi, unsigned long rsi, unsigned long rsp)
{
	unsigned int id = smp_id();

	if (shared_info)
		shared_info->vcpu_info[id].evtchn_upcall_mask = 1;
	smp_boot[id].rdi = rdi;
	smp_boot[id].rsi = rsi;
	smp_boot[id].rsp = rsp;
	__atomic_store_n(&smp_boot[id].started, 1, __ATOMIC_SEQ_CST);
	if (entries[id].fn)
		entries[id].fn(id, entries[id].arg);
	for (;;) {
		HYPERVISOR_vcpu_op(VCPUOP_down, id, NULL);
		HYPERVISOR_sched_yield();
	}
}

void smp_init(const struct start_info *si)
{
	pv_init(si);
	l4_mfn = pv_virt_to_mfn((const void *)si->pt_base);
}

void smp_fill_context(struct vcpu_guest_context *ctx, unsigned int vcpu,
		      const struct trap_info *traps)
{
	struct cpu_user_regs *r = &ctx->user_regs;
	const struct trap_info *t;

	memset(ctx, 0, sizeof(*ctx));
	ctx->flags = VGCF_in_kernel;
	r->rip = (unsigned long)smp_secondary_entry;
	r->rsp = smp_stack_top(vcpu);
	r->rdi = vcpu;
	r->rsi = SMP_BOOT_MAGIC;
	r->rflags = 0x202;              /* Xen forces IF; the mask is vcpu_info's */
	r->cs = FLAT_KERNEL_CS64;
	r->ss = FLAT_KERNEL_SS64;
	r->ds = r->es = r->fs = r->gs = 0;      /* FLAT_RING3_DS64: null */
	for (t = traps; t && t->address; t++)
		ctx->trap_ctxt[t->vector] = *t;
	ctx->kernel_ss = FLAT_KERNEL_SS64;
	ctx->kernel_sp = smp_stack_top(vcpu);
	ctx->ctrlreg[3] = xen_pfn_to_cr3(l4_mfn);
	ctx->event_callback_eip = (unsigned long)event_entry;
	ctx->failsafe_callback_eip = (unsigned long)failsafe_entry;
	ctx->syscall_callback_eip = (unsigned long)syscall_entry;
}

long smp_vcpu_initialise(unsigned int vcpu, smp_entry_t fn, void *arg,
			 const struct trap_info *traps)
{
	if (vcpu == 0 || vcpu >= SMP_MAX_VCPUS)
		return -EINVAL;
	entries[vcpu].fn = fn;
	entries[vcpu].arg = arg;
	smp_boot[vcpu].started = 0;
	if (shared_info)
		shared_info->vcpu_info[vcpu].evtchn_upcall_mask = 1;
	smp_fill_context(&boot_ctx, vcpu, traps);
	return HYPERVISOR_vcpu_op(VCPUOP_initialise, vcpu, &boot_ctx);
}

long smp_vcpu_start(unsigned int vcpu, smp_entry_t fn, void *arg,
		    const struct trap_info *traps)
{
	long rc = smp_vcpu_initialise(vcpu, fn, arg, traps);

	if (rc)
		return rc;
	return HYPERVISOR_vcpu_op(VCPUOP_up, vcpu, NULL);
}

const struct trap_info *smp_default_traps(void)
{
	static struct trap_info table[21];
	static const uint8_t vectors[] = {
		0, 1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19,
	};
	unsigned int i;

	_Static_assert(sizeof(vectors) < sizeof(table) / sizeof(table[0]),
		       "trap table terminator");
	if (table[0].address)
		return table;
	for (i = 0; i < sizeof(vectors); i++) {
		table[i].vector = vectors[i];
		table[i].flags = vectors[i] == 3 || vectors[i] == 4 ? 3 : 0;
		table[i].cs = FLAT_KERNEL_CS64;
		table[i].address = trap_entry(vectors[i]);
	}
	return table;
}
