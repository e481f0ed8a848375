/* Exercises the paravirtualised CPU interface of an x86-64 PV guest: the
 * virtual IDT and exception frames, callbacks, iret, user mode, emulated
 * privileged instructions, segment bases, debug registers, the GDT and I/O
 * privilege.  Each check prints one line, "ok <name>" or
 * "FAIL <name>: <detail>", then "pvcpu: <n> passed, <m> failed".  Every
 * check states something Xen itself makes true for a 64-bit PV guest.
 *
 * Command line: test=all (default) | test=hlt | test=failsafe |
 * attack=<name> (each must crash only this domain). */
#include "console.h"
#include "hypercall.h"
#include "lib.h"
#include "pv.h"

#include "errno.h"

#define UNMAPPED                0x1000UL
#define NONCANONICAL            0x8000000000000000UL
#define HYPERVISOR_ADDRESS      0xffff810000001000UL

/* System calls of the test's own user mode (rax).  Kept clear of the
 * hypercall numbers: on Xen a hypercall-page call from user mode arrives at
 * the syscall callback with the hypercall number in rax. */
#define SYS_EXIT                0x100
#define SYS_ADD                 0x101

/* ---- Reporting ----------------------------------------------------------- */

static int passed, failed;
static const char *check_name;
static int check_failed;

static void begin(const char *name)
{
	check_name = name;
	check_failed = 0;
}

static void end(void)
{
	if (check_failed) {
		failed++;
	} else {
		passed++;
		printk("ok %s\n", check_name);
	}
}

/* The first unmet expectation of a check prints its FAIL line. */
static void want_hex(const char *what, unsigned long got, unsigned long want)
{
	if (check_failed || got == want)
		return;
	check_failed = 1;
	printk("FAIL %s: %s: got 0x%lx, want 0x%lx\n", check_name, what, got, want);
}

static void want_rc(const char *what, long got, long want)
{
	if (check_failed || got == want)
		return;
	check_failed = 1;
	printk("FAIL %s: %s: got %ld, want %ld\n", check_name, what, got, want);
}

static void want(const char *what, int cond)
{
	if (check_failed || cond)
		return;
	check_failed = 1;
	printk("FAIL %s: %s\n", check_name, what);
}

/* One-call checks of a hypercall's result. */
static void check_rc(const char *name, long got, long want)
{
	begin(name);
	want_rc("result", got, want);
	end();
}

/* ---- Traps ------------------------------------------------------------------ */

/* The last exception or interrupt the generic handler saw. */
struct trap_record {
	unsigned long count;
	unsigned long vector, error_code, rip, cs, rflags, rsp, ss, cr2;
	unsigned long top;      /* address just above the frame's SS slot */
};
static struct trap_record last;
static unsigned long vector_count[256];

/* Set before an instruction expected to fault: the handler resumes there.
 * probe_at is where the probe's instruction starts.  Both are written from
 * user mode too (everything the guest owns is mapped user-writable). */
unsigned long fixup_rip, probe_at;

/* A user-mode #UD (syscall without a callback) returns to the kernel. */
static int ud_returns_to_kernel;
static struct trap_record ud_from_user;

static unsigned long event_upcalls;

static void record(struct trap_regs *r)
{
	last.cr2 = r->vector == 14 ? read_cr2() : 0;   /* before anything can fault */
	last.count++;
	last.vector = r->vector;
	last.error_code = r->error_code;
	last.rip = r->rip;
	last.cs = r->cs;
	last.rflags = r->rflags;
	last.rsp = r->rsp;
	last.ss = r->ss;
	last.top = (unsigned long)&r->ss + 8;
	if (r->vector < 256)
		vector_count[r->vector]++;
}

static void summary(void)
{
	if (event_upcalls)
		printk("pvcpu: note: %lu event upcalls\n", event_upcalls);
	printk("pvcpu: %d passed, %d failed\n", passed, failed);
}

static void __attribute__((noreturn)) die(void)
{
	summary();
	xen_shutdown(SHUTDOWN_crash);
}

static void on_trap(struct trap_regs *r)
{
	record(r);
	if (r->vector == 6 && ud_returns_to_kernel && (r->cs & 3) == 3) {
		ud_returns_to_kernel = 0;
		ud_from_user = last;
		return_to_kernel(0x5d);
	}
	switch (r->vector) {
	case 7:         /* #NM: the instruction runs again, now without TS */
	case 3:         /* traps: RIP is already past the instruction, and a */
	case 0x80:      /* probe's fixup (e.g. around int $0x82, whose handler */
	case 0x82:      /* takes a nested int3) is not theirs to take */
		return;
	}
	if (fixup_rip) {
		r->rip = fixup_rip;
		fixup_rip = 0;
		return;
	}
	failed++;
	printk("FAIL unexpected_trap: vector %lu ec 0x%lx rip 0x%lx cs 0x%lx rsp 0x%lx cr2 0x%lx (during %s)\n",
	       r->vector, r->error_code, r->rip, r->cs, r->rsp, last.cr2,
	       check_name ? check_name : "setup");
	die();
}

/* Any pending event: keep events masked on return (the test has no
 * shared_info mapping to acknowledge it, so unmasking would loop). */
static void on_event(struct trap_regs *r)
{
	event_upcalls++;
	r->rflags &= ~X86_EFLAGS_IF;
}

static void on_failsafe(struct trap_regs *r)
{
	record(r);
	failed++;
	printk("FAIL unexpected_failsafe: rip 0x%lx cs 0x%lx ds 0x%lx (during %s)\n",
	       r->rip, r->cs, failsafe_segs[0], check_name ? check_name : "setup");
	die();
}

/* int $0x82 (TI_MASK_EVENTS): look at the frame, then take a nested int3
 * to see the mask as the handler runs with it. */
static struct {
	unsigned long count, rip, cs, rflags;
	struct trap_record nested;
	unsigned long nested_taken;
} int82;

static void on_int82(struct trap_regs *r)
{
	unsigned long before;

	record(r);
	int82.count++;
	int82.rip = r->rip;
	int82.cs = r->cs;
	int82.rflags = r->rflags;
	before = last.count;
	asm volatile("int3" ::: "memory");
	int82.nested_taken = last.count - before;
	int82.nested = last;
}

/* int $0x80 from user mode: rax + 1 proves the handler's edit comes back. */
static struct trap_record int80;

static void on_int80(struct trap_regs *r)
{
	record(r);
	int80 = last;
	r->rax += 1;
}

/* The syscall callback.  SYS_ADD records its frame and takes a nested int3
 * (events are masked by CALLBACKF_mask_events).  Anything else, such as a
 * hypercall-page call from user mode on Xen, is refused with -EPERM. */
static struct {
	unsigned long count, rip, cs, rflags, rsp, ss, rcx, r11;
	struct trap_record nested;
	unsigned long nested_taken, top;
	unsigned long unknown_count, unknown_nr;
} sc;

static void on_syscall(struct trap_regs *r)
{
	unsigned long before;

	switch (r->rax) {
	case SYS_EXIT:
		return_to_kernel((long)r->rdi);
	case SYS_ADD:
		sc.count++;
		sc.rip = r->rip;
		sc.cs = r->cs;
		sc.rflags = r->rflags;
		sc.rsp = r->rsp;
		sc.ss = r->ss;
		sc.rcx = r->rcx;
		sc.r11 = r->r11;
		sc.top = (unsigned long)&r->ss + 8;
		before = last.count;
		asm volatile("int3" ::: "memory");
		sc.nested_taken = last.count - before;
		sc.nested = last;
		r->rax = r->rdi + r->rsi;
		break;
	default:
		sc.unknown_count++;
		sc.unknown_nr = r->rax;
		r->rax = (unsigned long)-EPERM;
		break;
	}
	/* Return as sysret would: the hypervisor must ignore these two. */
	r->rcx = 0xdead0000c0ffee01UL;
	r->r11 = 0xdead0000c0ffee02UL;
	r->iret_flags = VGCF_in_syscall;
}

/* sysenter loses the user context (RIP 0, CS 3, RSP 0): the user passes
 * its return address in rdx and its stack in rcx, as for sysexit. */
static struct {
	unsigned long count, rip, cs, rsp, ss, rdx, rcx;
} se;

static void on_sysenter(struct trap_regs *r)
{
	se.count++;
	se.rip = r->rip;
	se.cs = r->cs;
	se.rsp = r->rsp;
	se.ss = r->ss;
	se.rdx = r->rdx;
	se.rcx = r->rcx;
	r->rip = r->rdx;
	r->rsp = r->rcx;
	r->cs = FLAT_RING3_CS64;
	r->ss = FLAT_RING3_SS64;
	r->rflags = 0x202;
	r->iret_flags = 0;
}

/* ---- Probes: one instruction, resumed after if it faults ---------------- */

/* unsigned long probe_x(unsigned long arg): runs setup then insn (at
 * probe_at) with arg in rdi; a fault resumes after insn.  Returns rax.
 * Arguments with commas or ';' are quoted (GAS strips the quotes). */
asm(
"	.macro PROBE name, setup, insn\n"
"	.text\n"
"	.globl \\name\n"
"	.type \\name, @function\n"
"\\name:\n"
"	leaq 1f(%rip), %r11\n"
"	movq %r11, fixup_rip(%rip)\n"
"	leaq 0f(%rip), %r11\n"
"	movq %r11, probe_at(%rip)\n"
"	\\setup\n"
"0:	\\insn\n"
"1:	movq $0, fixup_rip(%rip)\n"
"	ret\n"
"	.size \\name, . - \\name\n"
"	.endm\n"
"	PROBE probe_div0, \"xorl %edx, %edx; xorl %ecx, %ecx; movl $1, %eax\", \"divq %rcx\"\n"
"	PROBE probe_read, , \"movq (%rdi), %rax\"\n"
"	PROBE probe_write_same, \"movq (%rdi), %rsi\", \"movq %rsi, (%rdi)\"\n"
"	PROBE probe_lidt, , \"lidt (%rdi)\"\n"
"	PROBE probe_lgdt, , \"lgdt (%rdi)\"\n"
"	PROBE probe_rdmsr, \"movl %edi, %ecx\", rdmsr\n"
"	PROBE probe_int80, \"movl $0x1234, %eax\", \"int $0x80\"\n"
"	PROBE probe_int81, , \"int $0x81\"\n"
"	PROBE probe_int82, , \"int $0x82\"\n"
"	PROBE probe_ud2, , ud2\n"
"	PROBE probe_ud2_xen_not_cpuid, , \"ud2; .byte 0x78, 0x65, 0x6e, 0x90, 0x90\"\n"
"	PROBE probe_cli, , cli\n"
"	PROBE probe_cli_sti, , \"cli; sti\"\n"
"	PROBE probe_in80, \"movl $0x12345600, %eax\", \"inb $0x80, %al\"\n"
"	PROBE probe_out80, \"movl $0x5a, %eax\", \"outb %al, $0x80\"\n"
"	PROBE probe_wbinvd, , wbinvd\n"
"	PROBE probe_read_cr0, , \"movq %cr0, %rax\"\n"
"	PROBE probe_xorps, , \"xorps %xmm0, %xmm0\"\n"
"	PROBE probe_load_ds, \"movl %edi, %eax\", \"movw %ax, %ds\"\n"
"	PROBE probe_sysenter, \"leaq 1f(%rip), %rdx; movq %rsp, %rcx\", sysenter\n"
"	.purgem PROBE\n"
);

unsigned long probe_div0(unsigned long);
unsigned long probe_read(unsigned long);
unsigned long probe_write_same(unsigned long);
unsigned long probe_lidt(unsigned long);
unsigned long probe_lgdt(unsigned long);
unsigned long probe_rdmsr(unsigned long);
unsigned long probe_int80(unsigned long);
unsigned long probe_int81(unsigned long);
unsigned long probe_int82(unsigned long);
unsigned long probe_ud2(unsigned long);
unsigned long probe_ud2_xen_not_cpuid(unsigned long);
unsigned long probe_cli(unsigned long);
unsigned long probe_cli_sti(unsigned long);
unsigned long probe_in80(unsigned long);
unsigned long probe_out80(unsigned long);
unsigned long probe_wbinvd(unsigned long);
unsigned long probe_read_cr0(unsigned long);
unsigned long probe_xorps(unsigned long);
unsigned long probe_load_ds(unsigned long);
unsigned long probe_sysenter(unsigned long);

/* Expect exactly one trap since `before`: vector at rip with error code ec
 * (ec < 0: none to compare). */
static void want_trap(unsigned long before, unsigned long vector,
		      unsigned long rip, long ec)
{
	want_hex("traps taken", last.count - before, 1);
	want_hex("vector", last.vector, vector);
	want_hex("frame RIP", last.rip, rip);
	if (ec >= 0)
		want_hex("error code", last.error_code, (unsigned long)ec);
}

static void want_no_trap(unsigned long before)
{
	want_hex("traps taken", last.count - before, 0);
}

/* int3 here; returns the address after it and the rsp it ran with. */
static unsigned long int3_here(unsigned long *sp)
{
	unsigned long after, s;

	asm volatile("movq %%rsp, %[s]\n\t"
		     "int3\n"
		     "1:\tleaq 1b(%%rip), %[a]"
		     : [s] "=&r"(s), [a] "=r"(after) :: "memory");
	if (sp)
		*sp = s;
	return after;
}

static unsigned long read_fs0(void)
{
	unsigned long v;

	asm volatile("movq %%fs:0, %0" : "=r"(v) :: "memory");
	return v;
}

static unsigned long read_gs0(void)
{
	unsigned long v;

	asm volatile("movq %%gs:0, %0" : "=r"(v) :: "memory");
	return v;
}

static unsigned long read_ds(void)
{
	unsigned long v;

	asm volatile("movq %%ds, %0" : "=r"(v));
	return v;
}

static unsigned long read_cs(void)
{
	unsigned long v;

	asm volatile("movq %%cs, %0" : "=r"(v));
	return v;
}

/* Whether mov from a segment register shows the guest's selectors.  On
 * KVM's PVM backend the guest reads the host's (cs 0x33, ds 0): segment
 * loads still fault or not as the GDT says, but their result is not
 * visible, so read-back expectations are skipped there. */
static int selectors_visible;

static void probe_selector_visibility(void)
{
	selectors_visible = (read_cs() & 0xffff) == FLAT_RING3_CS64;
	if (!selectors_visible)
		printk("pvcpu: note: cs reads 0x%lx, not 0xe033: this host hides segment selectors, selector read-backs skipped\n",
		       read_cs());
}

static void want_selector(const char *what, unsigned long got, unsigned long want)
{
	if (selectors_visible)
		want_hex(what, got & 0xffff, want);
}

static void load_null_ds(void)
{
	asm volatile("movw %w0, %%ds" :: "r"(0) : "memory");
}

/* ---- Domain state -------------------------------------------------------- */

static struct start_info *si;
static unsigned long l4_mfn;

static char kstack[16384] __attribute__((aligned(16)));
static char ustack[16384] __attribute__((aligned(16)));
#define KSTACK_TOP      ((unsigned long)(kstack + sizeof(kstack)))
#define USTACK_TOP      ((unsigned long)(ustack + sizeof(ustack)))

static uint64_t gdt_page[512] __attribute__((aligned(4096)));
static uint64_t bad_gdt_page[512] __attribute__((aligned(4096)));
static char scratch_page[4096] __attribute__((aligned(4096)));

#define DESC_CODE64_DPL0        0x00af9a000000ffffUL
#define DESC_DATA_DPL0          0x00cf92000000ffffUL
#define DESC_TSS64              0x0000890000000067UL    /* available 64-bit TSS */
#define DESC_LDT                0x0000820000000fffUL
#define DESC_INTGATE64          0x00008e0000000000UL    /* 64-bit interrupt gate */

static struct trap_info trap_table[16];

static void build_trap_table(unsigned long int3_handler)
{
	static const struct { uint8_t vector, flags; } v[] = {
		{ 0, 0 }, { 1, 0 }, { 3, 3 }, { 6, 0 }, { 7, 0 }, { 13, 0 },
		{ 14, 0 }, { 0x80, 3 }, { 0x82, 3 | TI_MASK_EVENTS },
	};
	unsigned int i;

	memset(trap_table, 0, sizeof(trap_table));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		trap_table[i].vector = v[i].vector;
		trap_table[i].flags = v[i].flags;
		trap_table[i].cs = FLAT_KERNEL_CS64;
		trap_table[i].address = trap_entry(v[i].vector);
		if (v[i].vector == 3 && int3_handler)
			trap_table[i].address = int3_handler;
	}
	/* trap_table[i] stays zero: the terminator */
}

static void install_handlers(void)
{
	static const unsigned int vectors[] = { 0, 1, 3, 6, 7, 13, 14 };
	unsigned int i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		trap_set_handler(vectors[i], on_trap);
	trap_set_handler(0x80, on_int80);
	trap_set_handler(0x82, on_int82);
	trap_set_handler(TRAP_VEC_SYSCALL, on_syscall);
	trap_set_handler(TRAP_VEC_SYSENTER, on_sysenter);
	trap_set_handler(TRAP_VEC_EVENT, on_event);
	trap_set_handler(TRAP_VEC_FAILSAFE, on_failsafe);
}

static long register_callbacks(int with_failsafe)
{
	long rc = 0;

	rc |= pv_register_callback(CALLBACKTYPE_event, 0, (unsigned long)event_entry);
	if (with_failsafe)
		rc |= pv_register_callback(CALLBACKTYPE_failsafe, CALLBACKF_mask_events,
					   (unsigned long)failsafe_entry);
	rc |= pv_register_callback(CALLBACKTYPE_syscall, CALLBACKF_mask_events,
				   (unsigned long)syscall_entry);
	rc |= pv_register_callback(CALLBACKTYPE_sysenter, CALLBACKF_mask_events,
				   (unsigned long)sysenter_entry);
	return rc;
}

/* Set up quietly, for the special modes; die if the hypervisor refuses. */
static void setup_quiet(int with_failsafe, int with_user_baseptr)
{
	install_handlers();
	build_trap_table(0);
	if (HYPERVISOR_set_trap_table(trap_table) ||
	    register_callbacks(with_failsafe) ||
	    HYPERVISOR_stack_switch(FLAT_KERNEL_SS64, KSTACK_TOP) ||
	    (with_user_baseptr && pv_mmuext_baseptr(MMUEXT_NEW_USER_BASEPTR, l4_mfn))) {
		printk("pvcpu: setup refused\n");
		xen_shutdown(SHUTDOWN_crash);
	}
}

/* Vendor, for the one place Xen's behaviour depends on it: sysenter from
 * 64-bit user mode raises #UD on AMD and Hygon CPUs. */
static int cpu_is_amd_like(void)
{
	struct cpuid_result r = forced_cpuid(0, 0);

	return (r.ebx == 0x68747541 && r.edx == 0x69746e65 && r.ecx == 0x444d4163) ||  /* AuthenticAMD */
	       (r.ebx == 0x6f677948 && r.edx == 0x6e65476e && r.ecx == 0x656e6975);    /* HygonGenuine */
}

/* ---- User mode ----------------------------------------------------------- */

static struct {
	unsigned long entered, arg;
	unsigned long add_result, add_rcx, add_r11, add_flags, add_ret, add_sp;
	unsigned long int80_rax, int80_ret, int80_sp;
	struct trap_record int80_trap, int81, pf, cli, priv, sysenter_ud;
	unsigned long int81_at, pf_at, cli_at, priv_at, sysenter_at;
	unsigned long sysenter_sp, sysenter_sp_after;
	struct cpuid_result cpuid;
	long hypercall;
} u;

static __attribute__((noreturn)) void user_exit(unsigned long value)
{
	asm volatile("syscall" :: "a"(SYS_EXIT), "D"(value) : "rcx", "r11", "memory");
	for (;;)
		asm volatile("ud2");
}

static void user_syscall_add(void)
{
	register unsigned long r11 asm("r11");
	unsigned long rax, rcx, flags, ret, sp;

	asm volatile("leaq 1f(%%rip), %[ret]\n\t"
		     "movq %%rsp, %[sp]\n\t"
		     "pushfq\n\t"
		     "popq %[flags]\n\t"
		     "syscall\n"
		     "1:"
		     : "=a"(rax), "=c"(rcx), "=r"(r11), [flags] "=&r"(flags),
		       [ret] "=&r"(ret), [sp] "=&r"(sp)
		     : "0"((unsigned long)SYS_ADD), "D"(40UL), "S"(2UL)
		     : "memory");
	u.add_result = rax;
	u.add_rcx = rcx;
	u.add_r11 = r11;
	u.add_flags = flags;
	u.add_ret = ret;
	u.add_sp = sp;
}

static void user_int80(void)
{
	asm volatile("movq %%rsp, %0" : "=r"(u.int80_sp));
	u.int80_sp -= 8;        /* probe_int80 runs below its return address */
	u.int80_rax = probe_int80(0);
	u.int80_ret = probe_at + 2;
	u.int80_trap = last;
}

/* Runs in guest user mode: nothing here may print (no hypercalls). */
static __attribute__((noreturn, used)) void user_main(unsigned long arg)
{
	u.entered = 1;
	u.arg = arg;

	user_syscall_add();
	user_int80();

	probe_int81(0);
	u.int81 = last;
	u.int81_at = probe_at;

	probe_read(UNMAPPED);
	u.pf = last;
	u.pf_at = probe_at;

	probe_cli(0);
	u.cli = last;
	u.cli_at = probe_at;

	probe_read_cr0(0);
	u.priv = last;
	u.priv_at = probe_at;

	u.cpuid = forced_cpuid(0x40000000, 0);
	u.hypercall = HYPERVISOR_xen_version(XENVER_version, NULL);

	asm volatile("movq %%rsp, %0" : "=r"(u.sysenter_sp));
	u.sysenter_sp_after = 0;
	probe_sysenter(0);
	u.sysenter_ud = last;
	u.sysenter_at = probe_at;
	asm volatile("movq %%rsp, %0" : "=r"(u.sysenter_sp_after));

	user_exit(0x600d);
}

/* Reads %gs:0 in user mode and returns it. */
static __attribute__((noreturn, used)) void user_read_gs(unsigned long arg)
{
	(void)arg;
	user_exit(read_gs0());
}

/* A syscall with no syscall callback: #UD, which returns to the kernel. */
static __attribute__((noreturn, used)) void user_syscall_no_callback(unsigned long arg)
{
	(void)arg;
	asm volatile("leaq 0f(%%rip), %%rax\n\t"
		     "movq %%rax, probe_at(%%rip)\n"
		     "0:\tsyscall"
		     ::: "rax", "rcx", "r11", "memory");
	user_exit(0xbad);
}

/* int3 in user mode, for attacks. */
static __attribute__((noreturn, used)) void user_int3(unsigned long arg)
{
	(void)arg;
	asm volatile("int3" ::: "memory");
	user_exit(0);
}

static long run_user(void (*fn)(unsigned long), unsigned long arg)
{
	long rc;

	/* As if called: rsp + 8 is 16-byte aligned at the function's entry. */
	rc = enter_user((unsigned long)fn, USTACK_TOP - 8, arg);
	/* Back through a callback or trap: mask events as the kernel runs. */
	xen_set_event_mask(1);
	return rc;
}

/* ---- Checks -------------------------------------------------------------- */

static void test_trap_table(void)
{
	struct trap_info bad[2];
	long rc;

	memset(bad, 0, sizeof(bad));
	bad[0].vector = 0x90;
	bad[0].cs = FLAT_KERNEL_CS64;
	bad[0].address = NONCANONICAL;
	check_rc("trap_table.noncanonical", HYPERVISOR_set_trap_table(bad), -EINVAL);
	check_rc("trap_table.bad_pointer",
		 HYPERVISOR_set_trap_table((const struct trap_info *)UNMAPPED), -EFAULT);
	check_rc("trap_table.clear", HYPERVISOR_set_trap_table(NULL), 0);

	build_trap_table(0);
	rc = HYPERVISOR_set_trap_table(trap_table);
	check_rc("trap_table.set", rc, 0);
	if (rc) {
		printk("pvcpu: cannot continue without a trap table\n");
		die();
	}
}

static void test_callbacks(void)
{
	struct callback_unregister un = { 0, 0 };
	static const unsigned int fixed[] = {
		CALLBACKTYPE_failsafe, CALLBACKTYPE_syscall,
		CALLBACKTYPE_syscall32, CALLBACKTYPE_sysenter,
	};
	unsigned int i;

	check_rc("set_callbacks",
		 HYPERVISOR_set_callbacks((unsigned long)event_entry,
					  (unsigned long)failsafe_entry,
					  (unsigned long)syscall_entry), 0);
	/* set_callbacks registers without CALLBACKF_mask_events: redo it. */
	check_rc("callback.register", register_callbacks(1), 0);

	un.type = CALLBACKTYPE_event;
	check_rc("callback.unregister_event",
		 HYPERVISOR_callback_op(CALLBACKOP_unregister, &un), -EINVAL);
	begin("callback.unregister_fixed");
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		un.type = (uint16_t)fixed[i];
		want_rc(i == 0 ? "failsafe" : i == 1 ? "syscall" : i == 2 ? "syscall32" : "sysenter",
			HYPERVISOR_callback_op(CALLBACKOP_unregister, &un), -EINVAL);
	}
	end();
	un.type = CALLBACKTYPE_nmi;
	check_rc("callback.unregister_nmi",
		 HYPERVISOR_callback_op(CALLBACKOP_unregister, &un), 0);

	begin("callback.bad_type");
	want_rc("register type 99",
		pv_register_callback(99, 0, (unsigned long)event_entry), -ENOSYS);
	un.type = 99;
	want_rc("unregister type 99",
		HYPERVISOR_callback_op(CALLBACKOP_unregister, &un), -ENOSYS);
	end();
	check_rc("callback.noncanonical",
		 pv_register_callback(CALLBACKTYPE_event, 0, NONCANONICAL), -EINVAL);
	check_rc("callback.bad_cmd", HYPERVISOR_callback_op(99, &un), -ENOSYS);
}

static void test_stack_switch(void)
{
	begin("stack_switch");
	want_rc("any value", HYPERVISOR_stack_switch(FLAT_KERNEL_SS64, NONCANONICAL), 0);
	want_rc("kernel stack", HYPERVISOR_stack_switch(FLAT_KERNEL_SS64, KSTACK_TOP), 0);
	end();
}

static void test_mmuext(void)
{
	long rc;

	check_rc("mmuext.bad_baseptr",
		 pv_mmuext_baseptr(MMUEXT_NEW_USER_BASEPTR, pv_virt_to_mfn(scratch_page)),
		 -EINVAL);
	rc = pv_mmuext_baseptr(MMUEXT_NEW_USER_BASEPTR, l4_mfn);
	check_rc("mmuext.user_baseptr", rc, 0);
	if (rc) {
		printk("pvcpu: cannot enter user mode without a user base pointer\n");
		die();
	}
	check_rc("mmuext.baseptr_same", pv_mmuext_baseptr(MMUEXT_NEW_BASEPTR, l4_mfn), 0);
}

static void test_exceptions(void)
{
	unsigned long before, after, sp;
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) dt = { 0, 0 };

	begin("int3.kernel");
	before = last.count;
	after = int3_here(&sp);
	want_trap(before, 3, after, -1);
	want_hex("frame CS", last.cs & 0xffff, FLAT_KERNEL_CS64_RPL0);
	want_hex("frame SS", last.ss & 0xffff, FLAT_KERNEL_SS64);
	want_hex("frame RSP", last.rsp, sp);
	want_hex("frame on the current stack, aligned down to 16", last.top, sp & ~0xfUL);
	end();

	begin("int3.mask_saved");
	xen_set_event_mask(1);
	int3_here(NULL);
	want_hex("masked: RFLAGS.IF", last.rflags & X86_EFLAGS_IF, 0);
	want_hex("masked: CS bits 32-39", (last.cs >> 32) & 0xff, 1);
	xen_set_event_mask(0);
	int3_here(NULL);
	want_hex("unmasked: RFLAGS.IF", last.rflags & X86_EFLAGS_IF, X86_EFLAGS_IF);
	want_hex("unmasked: CS bits 32-39", (last.cs >> 32) & 0xff, 0);
	xen_set_event_mask(1);
	int3_here(NULL);
	want_hex("masked again: CS bits 32-39", (last.cs >> 32) & 0xff, 1);
	end();

	begin("divide_error");
	before = last.count;
	probe_div0(0);
	want_trap(before, 0, probe_at, -1);
	want_hex("frame CS", last.cs & 0xffff, FLAT_KERNEL_CS64_RPL0);
	end();

	begin("page_fault.kernel");
	before = last.count;
	probe_read(UNMAPPED);
	want_trap(before, 14, probe_at, 0);
	want_hex("cr2", last.cr2, UNMAPPED);
	end();

	begin("page_fault.write_ro");
	before = last.count;
	probe_write_same(si->pt_base);
	want_trap(before, 14, probe_at, 3);
	want_hex("cr2", last.cr2, si->pt_base);
	end();

	begin("gp.lidt");
	before = last.count;
	probe_lidt((unsigned long)&dt);
	want_trap(before, 13, probe_at, 0);
	end();

	begin("gp.lgdt");
	before = last.count;
	probe_lgdt((unsigned long)&dt);
	want_trap(before, 13, probe_at, 0);
	end();

	begin("gp.unknown_msr");
	before = last.count;
	probe_rdmsr(0x12345);
	want_trap(before, 13, probe_at, 0);
	end();

	begin("gp.int_absent_kernel");
	before = last.count;
	probe_int81(0);
	want_trap(before, 13, probe_at, (0x81 << 3) | 2);
	end();

	begin("ud.plain");
	before = last.count;
	probe_ud2(0);
	want_trap(before, 6, probe_at, -1);
	end();

	begin("ud.forced_not_cpuid");
	before = last.count;
	probe_ud2_xen_not_cpuid(0);
	want_trap(before, 6, probe_at, -1);
	end();
}

static void test_mask_events(void)
{
	unsigned long before, ret;

	begin("mask_events.trap_flag");
	xen_set_event_mask(0);
	before = int82.count;
	probe_int82(0);
	ret = probe_at + 2;
	if (int82.count == before)
		want_hex("vector", last.vector, 0x82);
	want_hex("handler ran", int82.count - before, 1);
	want_hex("frame RIP after the int", int82.rip, ret);
	want_hex("frame CS", int82.cs & 0xffff, FLAT_KERNEL_CS64_RPL0);
	want_hex("frame saved mask", (int82.cs >> 32) & 0xff, 0);
	want_hex("frame RFLAGS.IF", int82.rflags & X86_EFLAGS_IF, X86_EFLAGS_IF);
	want_hex("nested int3 taken", int82.nested_taken, 1);
	want_hex("nested: RFLAGS.IF (masked in handler)", int82.nested.rflags & X86_EFLAGS_IF, 0);
	want_hex("nested: saved mask", (int82.nested.cs >> 32) & 0xff, 1);
	int3_here(NULL);
	want_hex("after return: saved mask", (last.cs >> 32) & 0xff, 0);
	want_hex("after return: RFLAGS.IF", last.rflags & X86_EFLAGS_IF, X86_EFLAGS_IF);
	xen_set_event_mask(1);
	end();
}

static void test_fpu(void)
{
	unsigned long before;
	long rc;

	/* The host tells us (nm=untrapped) when its CPU cannot raise #NM from a
	 * guest's CR0.TS (KVM's PVM backend runs CPL3 on the host's CR0): then
	 * the virtual TS is still kept and reported, but no #NM can arrive. */
	char nm[16] = "";
	int untrapped = cmdline_get(si->cmd_line, "nm", nm, sizeof(nm)) >= 0 &&
			!strcmp(nm, "untrapped");

	begin(untrapped ? "nm.taskswitch_untrapped" : "nm.taskswitch");
	rc = HYPERVISOR_fpu_taskswitch(1);
	want_rc("fpu_taskswitch(1)", rc, 0);
	want_hex("cr0.TS after fpu_taskswitch(1)", read_cr0() & X86_CR0_TS, X86_CR0_TS);
	before = vector_count[7];
	probe_xorps(0);
	if (untrapped) {
		want_hex("#NM taken", vector_count[7] - before, 0);
		clts();
	} else {
		want_hex("#NM taken", vector_count[7] - before, 1);
		want_hex("#NM frame RIP", last.rip, probe_at);
		want_hex("cr0.TS after #NM", read_cr0() & X86_CR0_TS, 0);
		before = vector_count[7];
		probe_xorps(0);
		want_hex("#NM again", vector_count[7] - before, 0);
	}
	end();

	begin("nm.clts");
	want_rc("fpu_taskswitch(1)", HYPERVISOR_fpu_taskswitch(1), 0);
	want_hex("cr0.TS set", read_cr0() & X86_CR0_TS, X86_CR0_TS);
	clts();
	want_hex("cr0.TS after clts", read_cr0() & X86_CR0_TS, 0);
	before = vector_count[7];
	probe_xorps(0);
	want_hex("#NM taken", vector_count[7] - before, 0);
	end();

	begin("nm.taskswitch_clear");
	want_rc("fpu_taskswitch(1)", HYPERVISOR_fpu_taskswitch(1), 0);
	want_rc("fpu_taskswitch(0)", HYPERVISOR_fpu_taskswitch(0), 0);
	want_hex("cr0.TS", read_cr0() & X86_CR0_TS, 0);
	before = vector_count[7];
	probe_xorps(0);
	want_hex("#NM taken", vector_count[7] - before, 0);
	end();
}

static void test_cpuid(void)
{
	struct cpuid_result r;

	begin("cpuid.signature");
	r = forced_cpuid(0x40000000, 0);
	want_hex("eax", r.eax, 0x40000005);
	want_hex("ebx", r.ebx, 0x566e6558);
	want_hex("ecx", r.ecx, 0x65584d4d);
	want_hex("edx", r.edx, 0x4d4d566e);
	end();

	begin("cpuid.version");
	r = forced_cpuid(0x40000001, 0);
	want_hex("eax = xen_version", r.eax,
		 (unsigned long)HYPERVISOR_xen_version(XENVER_version, NULL));
	end();

	begin("cpuid.hypercall_msr");
	r = forced_cpuid(0x40000002, 0);
	want_hex("eax (hypercall pages)", r.eax, 1);
	want_hex("ebx (MSR base)", r.ebx, 0x40000000);
	end();

	begin("cpuid.hypervisor_bit");
	r = forced_cpuid(1, 0);
	want_hex("leaf 1 ecx bit 31", r.ecx >> 31, 1);
	end();
}

static uint64_t fs_var = 0x1111222233334444UL;
static uint64_t fs_var2 = 0x5555666677778888UL;
static uint64_t gs_kernel_var = 0x9999aaaabbbbccccUL;
static uint64_t gs_kernel_var2 = 0x0123456789abcdefUL;
static uint64_t gs_shadow_var = 0xfedcba9876543210UL;
static uint64_t gs_user_var = 0x0f0f0f0f0f0f0f0fUL;

static void test_msr(void)
{
	uint64_t t0, t1, v;
	long rc;

	begin("msr.fs_base");
	wrmsr(MSR_FS_BASE, (uint64_t)&fs_var);
	want_hex("rdmsr", rdmsr(MSR_FS_BASE), (uint64_t)&fs_var);
	want_hex("%fs:0", read_fs0(), fs_var);
	wrmsr(MSR_FS_BASE, 0);
	want_hex("rdmsr after reset", rdmsr(MSR_FS_BASE), 0);
	end();

	begin("msr.gs_base");
	wrmsr(MSR_GS_BASE, (uint64_t)&gs_kernel_var);
	want_hex("rdmsr", rdmsr(MSR_GS_BASE), (uint64_t)&gs_kernel_var);
	want_hex("%gs:0", read_gs0(), gs_kernel_var);
	end();

	begin("msr.efer");
	v = rdmsr(MSR_EFER);
	want_hex("SCE|LME|LMA", v & (EFER_SCE | EFER_LME | EFER_LMA),
		 EFER_SCE | EFER_LME | EFER_LMA);
	end();

	begin("msr.tsc");
	t0 = rdtsc();
	v = rdmsr(MSR_IA32_TSC);
	t1 = rdtsc();
	want("rdtsc <= rdmsr(TSC) <= rdtsc", t0 <= v && v <= t1);
	end();

	begin("msr.shadow_gs");
	wrmsr(MSR_SHADOW_GS_BASE, (uint64_t)&gs_shadow_var);
	want_hex("rdmsr", rdmsr(MSR_SHADOW_GS_BASE), (uint64_t)&gs_shadow_var);
	want_hex("kernel %gs:0 unchanged", read_gs0(), gs_kernel_var);
	rc = run_user(user_read_gs, 0);
	want_hex("user %gs:0", (unsigned long)rc, gs_shadow_var);
	want_hex("kernel %gs:0 after user mode", read_gs0(), gs_kernel_var);
	end();
}

static void test_cr(void)
{
	unsigned long before;

	begin("cr.cr0");
	want_hex("PE|PG", read_cr0() & (X86_CR0_PE | X86_CR0_PG), X86_CR0_PE | X86_CR0_PG);
	end();

	begin("cr.cr3");
	want_hex("cr3", read_cr3(), l4_mfn << 12);
	end();

	begin("cr.cr4");
	want_hex("PAE", read_cr4() & X86_CR4_PAE, X86_CR4_PAE);
	end();

	begin("priv.wbinvd");
	before = last.count;
	probe_wbinvd(0);
	want_no_trap(before);
	end();
}

static void test_segbase(void)
{
	long rc;

	begin("segbase.fs");
	want_rc("set_segment_base", HYPERVISOR_set_segment_base(SEGBASE_FS, (unsigned long)&fs_var2), 0);
	want_hex("%fs:0", read_fs0(), fs_var2);
	want_hex("rdmsr(FS_BASE)", rdmsr(MSR_FS_BASE), (unsigned long)&fs_var2);
	want_rc("reset", HYPERVISOR_set_segment_base(SEGBASE_FS, 0), 0);
	end();

	begin("segbase.gs_kernel");
	want_rc("set_segment_base", HYPERVISOR_set_segment_base(SEGBASE_GS_KERNEL, (unsigned long)&gs_kernel_var2), 0);
	want_hex("%gs:0", read_gs0(), gs_kernel_var2);
	want_hex("rdmsr(GS_BASE)", rdmsr(MSR_GS_BASE), (unsigned long)&gs_kernel_var2);
	end();

	/* A null user %gs selector; the user base is set again below. */
	check_rc("segbase.gs_user_sel", HYPERVISOR_set_segment_base(SEGBASE_GS_USER_SEL, 0), 0);

	begin("segbase.gs_user");
	want_rc("set_segment_base", HYPERVISOR_set_segment_base(SEGBASE_GS_USER, (unsigned long)&gs_user_var), 0);
	want_hex("rdmsr(SHADOW_GS_BASE)", rdmsr(MSR_SHADOW_GS_BASE), (unsigned long)&gs_user_var);
	want_hex("kernel %gs:0 unchanged", read_gs0(), gs_kernel_var2);
	rc = run_user(user_read_gs, 0);
	want_hex("user %gs:0", (unsigned long)rc, gs_user_var);
	want_hex("kernel %gs:0 after user mode", read_gs0(), gs_kernel_var2);
	end();

	begin("segbase.noncanonical");
	want_rc("FS", HYPERVISOR_set_segment_base(SEGBASE_FS, NONCANONICAL), -EINVAL);
	want_rc("GS_USER", HYPERVISOR_set_segment_base(SEGBASE_GS_USER, NONCANONICAL), -EINVAL);
	want_rc("GS_KERNEL", HYPERVISOR_set_segment_base(SEGBASE_GS_KERNEL, NONCANONICAL), -EINVAL);
	want_hex("kernel %gs:0 unchanged", read_gs0(), gs_kernel_var2);
	end();

	check_rc("segbase.bad_which", HYPERVISOR_set_segment_base(4, 0), -EINVAL);
}

static uint64_t dbg_vars[4];

static void test_debugreg(void)
{
	unsigned long v;
	int i;

	begin("debugreg.set_get");
	for (i = 0; i < 4; i++) {
		want_rc("set_debugreg(DRn, address)",
			HYPERVISOR_set_debugreg(i, (unsigned long)&dbg_vars[i]), 0);
		want_hex("get_debugreg(DRn)", HYPERVISOR_get_debugreg(i), (unsigned long)&dbg_vars[i]);
	}
	want_rc("set_debugreg(DR0, user address)", HYPERVISOR_set_debugreg(0, 0x1000), 0);
	want_hex("get_debugreg(DR0)", HYPERVISOR_get_debugreg(0), 0x1000);
	for (i = 0; i < 4; i++)
		want_rc("set_debugreg(DRn, 0)", HYPERVISOR_set_debugreg(i, 0), 0);
	end();

	begin("debugreg.hypervisor_addr");
	want_rc("start", HYPERVISOR_set_debugreg(0, 0xffff800000000000UL), -EPERM);
	want_rc("inside", HYPERVISOR_set_debugreg(1, 0xffff810000001000UL), -EPERM);
	want_rc("last byte", HYPERVISOR_set_debugreg(2, 0xffff87ffffffffffUL), -EPERM);
	want_rc("just above", HYPERVISOR_set_debugreg(3, 0xffff880000000000UL), 0);
	want_rc("reset", HYPERVISOR_set_debugreg(3, 0), 0);
	end();

	check_rc("debugreg.noncanonical", HYPERVISOR_set_debugreg(0, NONCANONICAL), -EPERM);
	check_rc("debugreg.dr7_gd", HYPERVISOR_set_debugreg(7, 1UL << 13), -EPERM);
	check_rc("debugreg.dr7_high", HYPERVISOR_set_debugreg(7, 1UL << 32), -EINVAL);
	check_rc("debugreg.dr6_high", HYPERVISOR_set_debugreg(6, 1UL << 32), -EINVAL);

	begin("debugreg.bad_reg");
	want_rc("set_debugreg(8)", HYPERVISOR_set_debugreg(8, 0), -ENODEV);
	want_rc("get_debugreg(8)", (long)HYPERVISOR_get_debugreg(8), -ENODEV);
	end();

	begin("debugreg.dr6_default");
	want_rc("set_debugreg(6, 0)", HYPERVISOR_set_debugreg(6, 0), 0);
	v = HYPERVISOR_get_debugreg(6);
	/* Bits 11 (BLD) and 16 (RTM) read 0 on Xen when the CPU has them. */
	want_hex("get_debugreg(6) (bits 11, 16 ignored)", v & ~0x10800UL, 0xffff0ff0UL & ~0x10800UL);
	end();

	begin("debugreg.dr7_default");
	want_rc("set_debugreg(7, 0)", HYPERVISOR_set_debugreg(7, 0), 0);
	want_hex("get_debugreg(7)", HYPERVISOR_get_debugreg(7), 0x400);
	end();
}

/* lretq to RPL-0 selector 0x08 (#GP: RPL < CPL), then to 0x0b, which
 * works only if the hypervisor raised the descriptor's DPL to 3, then
 * back to 0xe033. */
static void test_gdt_dpl(void)
{
	unsigned long before, at, mid, cs_after;

	begin("gdt.dpl_raised");
	before = last.count;
	asm volatile("leaq 1f(%%rip), %%rax\n\t"
		     "movq %%rax, fixup_rip(%%rip)\n\t"
		     "leaq 0f(%%rip), %[at]\n\t"
		     "pushq $0x08\n\t"
		     "leaq 2f(%%rip), %%rax\n\t"
		     "pushq %%rax\n"
		     "0:\tlretq\n"
		     "2:\tud2\n"                  /* running on CS 0x08: cannot be */
		     "1:\taddq $16, %%rsp\n\t"
		     "movq $0, fixup_rip(%%rip)"
		     : [at] "=&r"(at) :: "rax", "memory");
	want_trap(before, 13, at, 0x08);

	before = last.count;
	asm volatile("leaq 1f(%%rip), %%rax\n\t"
		     "movq %%rax, fixup_rip(%%rip)\n\t"
		     "movq $0xffff, %[mid]\n\t"
		     "pushq $0x0b\n\t"
		     "leaq 2f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "lretq\n"
		     "2:\tmovq %%cs, %[mid]\n\t"
		     "leaq 4f(%%rip), %%rax\n\t"
		     "movq %%rax, fixup_rip(%%rip)\n\t"
		     "pushq $0xe033\n\t"
		     "leaq 3f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "lretq\n"
		     "1:\taddq $16, %%rsp\n\t"    /* the lretq to 0x0b faulted */
		     "jmp 3f\n"
		     "4:\taddq $16, %%rsp\n"      /* the lretq back faulted */
		     "3:\tmovq $0, fixup_rip(%%rip)"
		     : [mid] "=&r"(mid) :: "rax", "memory");
	cs_after = read_cs();
	want_hex("traps during lretq to 0x0b and back", last.count - before, 0);
	want_selector("%cs after lretq to 0x0b", mid, 0x0b);
	want_selector("%cs after lretq back", cs_after, FLAT_RING3_CS64);
	end();
}

static void test_gdt(void)
{
	unsigned long frames[16];
	unsigned long gdt_mfn = pv_virt_to_mfn(gdt_page);
	unsigned long bad_mfn = pv_virt_to_mfn(bad_gdt_page);
	unsigned long before, pte;
	unsigned int i;
	long rc;

	for (i = 0; i < 16; i++)
		frames[i] = gdt_mfn;
	gdt_page[0] = 0;
	gdt_page[1] = DESC_CODE64_DPL0;
	gdt_page[2] = DESC_DATA_DPL0;

	check_rc("gdt.too_many", HYPERVISOR_set_gdt(frames, FIRST_RESERVED_GDT_ENTRY + 1), -EINVAL);

	begin("gdt.system_descriptor");
	frames[0] = bad_mfn;
	bad_gdt_page[1] = DESC_TSS64;
	want_rc("64-bit TSS", HYPERVISOR_set_gdt(frames, 3), -EINVAL);
	bad_gdt_page[1] = DESC_LDT;
	want_rc("LDT", HYPERVISOR_set_gdt(frames, 3), -EINVAL);
	bad_gdt_page[1] = DESC_INTGATE64;
	want_rc("interrupt gate", HYPERVISOR_set_gdt(frames, 3), -EINVAL);
	bad_gdt_page[1] = 0;
	bad_gdt_page[100] = DESC_TSS64;
	want_rc("TSS beyond the entry count (the whole frame is checked)",
		HYPERVISOR_set_gdt(frames, 3), -EINVAL);
	bad_gdt_page[100] = 0;
	end();

	frames[0] = 0xfffffff;
	check_rc("gdt.foreign_frame", HYPERVISOR_set_gdt(frames, 3), -EINVAL);
	frames[0] = l4_mfn;
	check_rc("gdt.pagetable_frame", HYPERVISOR_set_gdt(frames, 3), -EINVAL);
	check_rc("gdt.bad_pointer", HYPERVISOR_set_gdt((const unsigned long *)UNMAPPED, 3), -EFAULT);

	/* Xen takes a GDT frame only if no writable mapping of it exists, so
	 * map it read-only first.  A hypervisor without update_va_mapping
	 * (-ENOSYS) keeps the GDT in its own copy and does not need it.  From
	 * here on the guest writes the frame only through update_descriptor. */
	pte = (gdt_mfn << 12) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
	rc = HYPERVISOR_update_va_mapping((unsigned long)gdt_page, pte, UVMF_INVLPG);
	if (rc && rc != -ENOSYS)
		printk("pvcpu: note: update_va_mapping(gdt, read-only) = %ld\n", rc);

	frames[0] = gdt_mfn;
	begin("gdt.set");
	rc = HYPERVISOR_set_gdt(frames, 3);
	want_rc("set_gdt", rc, 0);
	if (rc == 0) {
		before = last.count;
		probe_load_ds(0x13);
		want_no_trap(before);
		want_selector("%ds", read_ds(), 0x13);
		load_null_ds();
	}
	end();
	if (rc) {
		begin("gdt.dpl_raised");
		want("needs gdt.set", 0);
		end();
		begin("update_descriptor.ok");
		want("needs gdt.set", 0);
		end();
	} else {
		test_gdt_dpl();

		begin("update_descriptor.ok");
		want_rc("update_descriptor", HYPERVISOR_update_descriptor((gdt_mfn << 12) + 3 * 8, DESC_DATA_DPL0), 0);
		before = last.count;
		probe_load_ds(0x1b);
		want_no_trap(before);
		want_selector("%ds", read_ds(), 0x1b);
		load_null_ds();
		end();
	}

	check_rc("update_descriptor.misaligned",
		 HYPERVISOR_update_descriptor((gdt_mfn << 12) + 4 * 8 + 4, DESC_DATA_DPL0), -EINVAL);
	check_rc("update_descriptor.system",
		 HYPERVISOR_update_descriptor((gdt_mfn << 12) + 4 * 8, DESC_TSS64), -EINVAL);
	/* L4 slot 1 (user half, unused here) of the bootstrap page table. */
	check_rc("update_descriptor.pagetable",
		 HYPERVISOR_update_descriptor((l4_mfn << 12) + 1 * 8, DESC_DATA_DPL0), -EINVAL);
	check_rc("update_descriptor.foreign_frame",
		 HYPERVISOR_update_descriptor(0xfffffffUL << 12, DESC_DATA_DPL0), -EINVAL);
}

/* Before PHYSDEVOP_set_iopl: the guest kernel counts as ring 1, IOPL is 0. */
static void test_iopl_without(void)
{
	unsigned long before;

	begin("iopl.cli_without");
	before = last.count;
	probe_cli(0);
	want_trap(before, 13, probe_at, 0);
	end();

	begin("iopl.in_without");
	before = last.count;
	probe_in80(0);
	want_trap(before, 13, probe_at, 0);
	end();
}

static void test_iopl(void)
{
	unsigned long before, v;

	check_rc("iopl.invalid", pv_set_iopl(4), -EINVAL);
	check_rc("iopl.set", pv_set_iopl(1), 0);

	begin("iopl.cli_sti");
	before = last.count;
	probe_cli_sti(0);
	want_no_trap(before);
	end();
	xen_set_event_mask(1);  /* whatever cli/sti did to it */

	begin("iopl.in");
	before = last.count;
	v = probe_in80(0);
	want_no_trap(before);
	want_hex("eax (al from an unbacked port)", v, 0x123456ff);
	end();

	begin("iopl.out");
	before = last.count;
	probe_out80(0);
	want_no_trap(before);
	end();
}

static void test_user(void)
{
	unsigned long before_se;
	long rc;
	int amd = cpu_is_amd_like();

	memset(&u, 0, sizeof(u));
	memset(&sc, 0, sizeof(sc));
	memset(&se, 0, sizeof(se));
	memset(&int80, 0, sizeof(int80));
	before_se = se.count;
	check_name = "user session";
	rc = run_user(user_main, 0xa5a5);

	begin("user.enter");
	want_hex("user code ran", u.entered, 1);
	want_hex("argument in rdi", u.arg, 0xa5a5);
	want_hex("syscall frame CS (user mode)", sc.cs & 0xffff, FLAT_RING3_CS64);
	end();

	begin("user.syscall");
	want_hex("callback reached", sc.count, 1);
	want_hex("rax = a + b", u.add_result, 42);
	want_hex("rcx = return address (VGCF_in_syscall)", u.add_rcx, u.add_ret);
	want_hex("r11 = user rflags (VGCF_in_syscall)", u.add_r11, u.add_flags);
	end();

	begin("user.syscall_frame");
	want_hex("RIP = return address", sc.rip, u.add_ret);
	want_hex("CS", sc.cs & 0xffff, FLAT_RING3_CS64);
	want_hex("SS", sc.ss & 0xffff, FLAT_RING3_SS64);
	want_hex("RSP = user rsp", sc.rsp, u.add_sp);
	want_hex("RCX = return address", sc.rcx, u.add_ret);
	want_hex("R11 = user rflags", sc.r11, u.add_flags);
	want_hex("RFLAGS.IF (user ran unmasked)", sc.rflags & X86_EFLAGS_IF, X86_EFLAGS_IF);
	want_hex("saved mask", (sc.cs >> 32) & 0xff, 0);
	want_hex("frame on the stack_switch stack", sc.top, KSTACK_TOP);
	want_hex("nested int3 taken", sc.nested_taken, 1);
	want_hex("nested: RFLAGS.IF (events masked on entry)", sc.nested.rflags & X86_EFLAGS_IF, 0);
	want_hex("nested: saved mask", (sc.nested.cs >> 32) & 0xff, 1);
	want_hex("nested: CS (kernel)", sc.nested.cs & 0xffff, FLAT_KERNEL_CS64_RPL0);
	end();

	begin("user.int80");
	want_hex("vector", u.int80_trap.vector, 0x80);
	want_hex("rax edited by the handler", u.int80_rax, 0x1235);
	want_hex("frame RIP after the int", int80.rip, u.int80_ret);
	want_hex("frame CS", int80.cs & 0xffff, FLAT_RING3_CS64);
	want_hex("frame RSP", int80.rsp, u.int80_sp);
	want_hex("frame on the stack_switch stack", int80.top, KSTACK_TOP);
	end();

	begin("user.int81_gp");
	want_hex("vector", u.int81.vector, 13);
	want_hex("error code", u.int81.error_code, (0x81 << 3) | 2);
	want_hex("frame RIP at the int", u.int81.rip, u.int81_at);
	want_hex("frame CS", u.int81.cs & 0xffff, FLAT_RING3_CS64);
	end();

	begin("user.page_fault");
	want_hex("vector", u.pf.vector, 14);
	want_hex("error code (U)", u.pf.error_code, 4);
	want_hex("cr2", u.pf.cr2, UNMAPPED);
	want_hex("frame RIP", u.pf.rip, u.pf_at);
	want_hex("frame CS (RPL 3)", u.pf.cs & 0xffff, FLAT_RING3_CS64);
	want_hex("frame SS", u.pf.ss & 0xffff, FLAT_RING3_SS64);
	want_hex("frame on the stack_switch stack", u.pf.top, KSTACK_TOP);
	end();

	begin("user.cli_gp");
	want_hex("vector", u.cli.vector, 13);
	want_hex("error code", u.cli.error_code, 0);
	want_hex("frame RIP at the cli", u.cli.rip, u.cli_at);
	end();

	begin("user.privileged_gp");
	want_hex("vector (mov from %cr0)", u.priv.vector, 13);
	want_hex("error code", u.priv.error_code, 0);
	want_hex("frame RIP", u.priv.rip, u.priv_at);
	end();

	begin("user.cpuid");
	want_hex("eax", u.cpuid.eax, 0x40000005);
	want_hex("ebx", u.cpuid.ebx, 0x566e6558);
	want_hex("ecx", u.cpuid.ecx, 0x65584d4d);
	want_hex("edx", u.cpuid.edx, 0x4d4d566e);
	end();

	/* Xenolith refuses it (-EPERM); Xen's hypercall page enters the guest
	 * kernel's syscall callback, which refuses it here. */
	begin("user.hypercall_eperm");
	want_rc("xen_version from user mode", u.hypercall, -EPERM);
	want("reached the syscall callback only as hypercall 17",
	     sc.unknown_count == 0 || sc.unknown_nr == __HYPERVISOR_xen_version);
	end();

	begin("user.sysenter");
	if (se.count - before_se == 0 && amd &&
	    u.sysenter_ud.vector == 6 && u.sysenter_ud.rip == u.sysenter_at) {
		/* AMD: sysenter from 64-bit mode is #UD, on Xen too. */
	} else {
		want_hex("callback reached", se.count - before_se, 1);
		want_hex("frame RIP", se.rip, 0);
		want_hex("frame CS", se.cs & 0xffff, 3);
		want_hex("frame RSP", se.rsp, 0);
		want_hex("frame SS", se.ss & 0xffff, FLAT_RING3_SS64);
		/* probe_sysenter runs below its return address */
		want_hex("rcx = user rsp", se.rcx, u.sysenter_sp - 8);
		want_hex("resumed on the user stack", u.sysenter_sp_after, u.sysenter_sp);
	}
	end();

	begin("user.exit");
	want_hex("enter_user result", (unsigned long)rc, 0x600d);
	before_se = last.count;
	probe_read_cr0(0);
	want_hex("kernel mode again: mov from %cr0 traps", last.count - before_se, 0);
	want_hex("kernel %gs:0", read_gs0(), gs_kernel_var2);
	end();

	/* set_callbacks with no syscall callback: user syscall is #UD. */
	begin("user.syscall_no_callback");
	want_rc("set_callbacks(syscall 0)",
		HYPERVISOR_set_callbacks((unsigned long)event_entry,
					 (unsigned long)failsafe_entry, 0), 0);
	ud_returns_to_kernel = 1;
	rc = run_user(user_syscall_no_callback, 0);
	ud_returns_to_kernel = 0;
	want_hex("returned through #UD", (unsigned long)rc, 0x5d);
	want_hex("vector", ud_from_user.vector, 6);
	want_hex("frame RIP at the syscall", ud_from_user.rip, probe_at);
	want_hex("frame CS", ud_from_user.cs & 0xffff, FLAT_RING3_CS64);
	want_rc("callbacks registered again", register_callbacks(1), 0);
	end();
}

/* ---- Special modes ------------------------------------------------------- */

static unsigned long failsafe_target_rsp;

static void on_failsafe_expected(struct trap_regs *r)
{
	extern char failsafe_target[];

	begin("iret.failsafe");
	want_hex("frame RIP", r->rip, (unsigned long)failsafe_target);
	want_hex("frame CS (the bad one)", r->cs & 0xffff, 0xe00b);
	want_hex("frame RSP", r->rsp, failsafe_target_rsp);
	want_hex("frame SS", r->ss & 0xffff, FLAT_RING3_SS64);
	want_hex("frame on the stack_switch stack", (unsigned long)&r->ss + 8, KSTACK_TOP);
	end();
	summary();
	xen_shutdown(failed ? SHUTDOWN_crash : SHUTDOWN_poweroff);
}

static __attribute__((noinline)) int test_failsafe(void)
{
	setup_quiet(1, 1);
	trap_set_handler(TRAP_VEC_FAILSAFE, on_failsafe_expected);
	failsafe_target_rsp = USTACK_TOP - 64;
	/* CS 0xe00b: Xen's own ring-0 code selector with RPL 3 (user mode).
	 * Loading it fails, so the failsafe callback gets the frame. */
	asm volatile("pushq $%c[ss]\n\t"
		     "pushq %[rsp]\n\t"
		     "pushq $0x202\n\t"
		     "pushq $0xe00b\n\t"
		     "leaq failsafe_target(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "pushq $0\n\t"
		     "jmp " HYPERCALL_IRET_ENTRY "\n"
		     ".globl failsafe_target\n"
		     "failsafe_target:\n\t"
		     "ud2"
		     :: [rsp] "r"(failsafe_target_rsp), [ss] "i"(FLAT_RING3_SS64)
		     : "rax", "memory");
	return 1;
}

static int test_hlt(void)
{
	setup_quiet(1, 0);
	xen_set_event_mask(0);
	printk("pvcpu: hlt blocking\n");
	asm volatile("hlt" ::: "memory");
	printk("pvcpu: hlt woke\n");
	return 0;
}

static int attack(const char *name)
{
	printk("pvcpu: attack %s\n", name);

	if (!strcmp(name, "handler_in_hypervisor")) {
		struct trap_info t[2];

		memset(t, 0, sizeof(t));
		t[0].vector = 3;
		t[0].flags = 3;
		t[0].cs = FLAT_KERNEL_CS64;
		t[0].address = HYPERVISOR_ADDRESS;
		HYPERVISOR_set_trap_table(t);
		asm volatile("int3" ::: "memory");
	} else if (!strcmp(name, "noncanonical_stack")) {
		setup_quiet(1, 1);
		HYPERVISOR_stack_switch(FLAT_KERNEL_SS64, NONCANONICAL);
		run_user(user_int3, 0);
	} else if (!strcmp(name, "no_handler")) {
		asm volatile("ud2" ::: "memory");
	} else if (!strcmp(name, "bad_iret_cs")) {
		/* No failsafe callback.  CS 0xe008 is Xen's ring-0 code selector;
		 * the iret forces RPL 3 (0xe00b), which cannot be loaded. */
		setup_quiet(0, 1);
		asm volatile("movq %%rsp, %%rax\n\t"
			     "pushq $%c[ss]\n\t"
			     "pushq %%rax\n\t"
			     "pushq $0x202\n\t"
			     "pushq $0xe008\n\t"
			     "leaq 1f(%%rip), %%rax\n\t"
			     "pushq %%rax\n\t"
			     "pushq $0\n\t"
			     "jmp " HYPERCALL_IRET_ENTRY "\n"
			     "1:"
			     :: [ss] "i"(FLAT_KERNEL_SS64)
			     : "rax", "rcx", "r11", "memory");
	} else if (!strcmp(name, "iret_frame_unmapped")) {
		/* The iret entry's own pushes already fault (and the #PF frame
		 * cannot be written either). */
		setup_quiet(1, 1);
		asm volatile("movq %0, %%rsp\n\t"
			     "jmp " HYPERCALL_IRET_ENTRY
			     :: "r"(UNMAPPED) : "memory");
	} else if (!strcmp(name, "iret_frame_unmapped_syscall")) {
		/* The iret hypercall itself, entered by syscall as the hypercall
		 * page does after its pushes: iret_context at an unmapped rsp. */
		setup_quiet(1, 1);
		asm volatile("movq %%rsp, %%rbx\n\t"
			     "movq %0, %%rsp\n\t"
			     "movl %1, %%eax\n\t"
			     "syscall\n\t"
			     "movq %%rbx, %%rsp"
			     :: "r"(UNMAPPED), "i"(__HYPERVISOR_iret)
			     : "rax", "rbx", "rcx", "r11", "memory");
	} else if (!strcmp(name, "user_without_baseptr")) {
		setup_quiet(1, 0);
		run_user(user_int3, 0);
	} else if (!strcmp(name, "kernel_stack_unmapped")) {
		setup_quiet(1, 1);
		asm volatile("movq %%rsp, %%rbx\n\t"
			     "movq %0, %%rsp\n\t"
			     "int3\n\t"
			     "movq %%rbx, %%rsp"
			     :: "r"(UNMAPPED) : "rbx", "memory");
	} else {
		printk("pvcpu: unknown attack %s\n", name);
		return 1;
	}
	printk("pvcpu: attack survived\n");
	return 0;
}

static int test_all(void)
{
	install_handlers();
	xen_set_event_mask(1);
	probe_selector_visibility();

	test_trap_table();
	test_callbacks();
	test_stack_switch();
	test_mmuext();
	test_exceptions();
	test_mask_events();
	test_fpu();
	test_cpuid();
	test_msr();
	test_cr();
	test_segbase();
	test_debugreg();
	test_gdt();
	test_iopl_without();
	test_iopl();
	test_user();

	check_name = NULL;
	summary();
	return failed ? 1 : 0;
}

int guest_main(struct start_info *start)
{
	char mode[32] = "";
	char name[48] = "";

	si = start;
	pv_init(si);
	l4_mfn = pv_virt_to_mfn((const void *)si->pt_base);

	if (cmdline_get(si->cmd_line, "attack", name, sizeof(name)) >= 0)
		return attack(name);
	cmdline_get(si->cmd_line, "test", mode, sizeof(mode));
	if (!mode[0] || !strcmp(mode, "all"))
		return test_all();
	if (!strcmp(mode, "hlt"))
		return test_hlt();
	if (!strcmp(mode, "failsafe"))
		return test_failsafe();
	printk("pvcpu: unknown test %s\n", mode);
	return 1;
}
