#include "console.h"
#include "hypercall.h"
#include "lib.h"
#include "pv.h"

#define WARMUP_ITERS    200
#define DEFAULT_ITERS   20000

enum mode { MODE_FLOOR, MODE_PAGE, MODE_SYSCALL, MODE_USERSYSCALL, MODE_USERSYSCALL_GS, MODE_EXCEPTION };

/* usersyscall: system calls of the user-mode loop (rax). */
#define BENCH_SYS_NOP   0
#define BENCH_SYS_BEGIN 1
#define BENCH_SYS_END   2
#define BENCH_SYS_EXIT  3

/* Minimal entries for the measured paths, so the loop measures the
 * hypervisor's round trip rather than the guest's register saving:
 *   bench_int3_entry: drop RCX/R11 back into their registers, iret at once.
 *   bench_syscall_entry: BENCH_SYS_NOP returns at once as sysret would
 *   (VGCF_in_syscall); any other call takes the full path to C. */
asm(
"	.text\n"
"	.globl bench_int3_entry\n"
"	.type bench_int3_entry, @function\n"
"bench_int3_entry:\n"
"	popq %rcx\n"
"	popq %r11\n"
"	pushq $0\n"
"	jmp " HYPERCALL_IRET_ENTRY "\n"
"	.size bench_int3_entry, . - bench_int3_entry\n"
"	.globl bench_syscall_entry\n"
"	.type bench_syscall_entry, @function\n"
"bench_syscall_entry:\n"
"	testq %rax, %rax\n"
"	jnz syscall_entry\n"
"	popq %rcx\n"
"	popq %r11\n"
"	pushq $" XG_STR(VGCF_in_syscall) "\n"
"	jmp " HYPERCALL_IRET_ENTRY "\n"
"	.size bench_syscall_entry, . - bench_syscall_entry\n"
);
void bench_int3_entry(void);
void bench_syscall_entry(void);

/* Port 0xE1: permitted by the hypervisor, a no-op exit round trip. */
static void run_floor(unsigned long n)
{
	while (n--)
		asm volatile("outb %%al, $0xe1" ::: "memory");
}

static void run_page(unsigned long n)
{
	while (n--)
		HYPERVISOR_xen_version(XENVER_version, NULL);
}

static void run_syscall(unsigned long n)
{
	while (n--)
		hypercall_via_syscall(__HYPERVISOR_xen_version,
				      XENVER_version, 0, 0, 0, 0);
}

/* Kernel-mode int3, handled by bench_int3_entry. */
static void run_exception(unsigned long n)
{
	while (n--)
		asm volatile("int3" ::: "memory");
}

static void run(enum mode m, unsigned long n)
{
	switch (m) {
	case MODE_FLOOR:
		run_floor(n);
		break;
	case MODE_PAGE:
		run_page(n);
		break;
	case MODE_SYSCALL:
		run_syscall(n);
		break;
	case MODE_EXCEPTION:
		run_exception(n);
		break;
	case MODE_USERSYSCALL:
	case MODE_USERSYSCALL_GS:
		break;  /* runs in user mode: see run_usersyscall() */
	}
}

/* ---- usersyscall: the loop runs in guest user mode ---------------------- */

static unsigned long pt_base;   /* start_info.pt_base: the bootstrap L4 */
static char kstack[16384] __attribute__((aligned(16)));
static char ustack[16384] __attribute__((aligned(16)));

static unsigned long user_syscall(unsigned long nr)
{
	unsigned long rax = nr;

	asm volatile("syscall" : "+a"(rax) :: "rcx", "r11", "memory");
	return rax;
}

/* In user mode: nothing here may print. */
static __attribute__((noreturn, used)) void user_loop(unsigned long iters)
{
	unsigned long n;

	for (n = 0; n < WARMUP_ITERS; n++)
		user_syscall(BENCH_SYS_NOP);
	user_syscall(BENCH_SYS_BEGIN);
	for (n = 0; n < iters; n++)
		user_syscall(BENCH_SYS_NOP);
	user_syscall(BENCH_SYS_END);
	user_syscall(BENCH_SYS_EXIT);
	for (;;)
		asm volatile("ud2");
}

static unsigned long user_iters;
static const char *user_mode_name;

/* The non-NOP system calls (events are masked: CALLBACKF_mask_events). */
static void on_syscall(struct trap_regs *r)
{
	switch (r->rax) {
	case BENCH_SYS_BEGIN:
		printk("bench: begin %s %lu\n", user_mode_name, user_iters);
		break;
	case BENCH_SYS_END:
		printk("bench: end %s\n", user_mode_name);
		break;
	case BENCH_SYS_EXIT:
		return_to_kernel(0);
	default:
		printk("bench: unknown user syscall %lu\n", r->rax);
		xen_shutdown(SHUTDOWN_crash);
	}
	r->rax = 0;
	r->iret_flags = VGCF_in_syscall;
}

static int setup_traps(int user)
{
	struct trap_info traps[2];

	memset(traps, 0, sizeof(traps));
	traps[0].vector = 3;
	traps[0].flags = 3;
	traps[0].cs = FLAT_KERNEL_CS64;
	traps[0].address = (unsigned long)bench_int3_entry;
	if (HYPERVISOR_set_trap_table(traps))
		return -1;
	if (!user)
		return 0;

	trap_set_handler(TRAP_VEC_SYSCALL, on_syscall);
	if (pv_register_callback(CALLBACKTYPE_syscall, CALLBACKF_mask_events,
				 (unsigned long)bench_syscall_entry) ||
	    HYPERVISOR_stack_switch(FLAT_KERNEL_SS64,
				    (unsigned long)(kstack + sizeof(kstack))) ||
	    pv_mmuext_baseptr(MMUEXT_NEW_USER_BASEPTR,
			      pv_virt_to_mfn((const void *)pt_base)))
		return -1;
	return 0;
}

int guest_main(struct start_info *si)
{
	char mode[16] = "";
	char num[24];
	unsigned long iters = DEFAULT_ITERS;
	enum mode m;
	int len;

	cmdline_get(si->cmd_line, "mode", mode, sizeof(mode));
	if (!strcmp(mode, "floor")) {
		m = MODE_FLOOR;
	} else if (!strcmp(mode, "page")) {
		m = MODE_PAGE;
	} else if (!strcmp(mode, "syscall")) {
		m = MODE_SYSCALL;
	} else if (!strcmp(mode, "usersyscall")) {
		m = MODE_USERSYSCALL;
	} else if (!strcmp(mode, "usersyscallgs")) {
		/* As usersyscall, but user and kernel GS bases differ, so every
		 * kernel/user switch must write special registers (as a Linux
		 * guest's switches do). */
		m = MODE_USERSYSCALL_GS;
	} else if (!strcmp(mode, "exception")) {
		m = MODE_EXCEPTION;
	} else {
		printk("bench: unknown mode %s\n", mode);
		return 1;
	}
	len = cmdline_get(si->cmd_line, "iters", num, sizeof(num));
	if (len >= 0 &&
	    ((size_t)len >= sizeof(num) || parse_ulong(num, &iters))) {
		printk("bench: bad iters %s\n", num);
		return 1;
	}

	if (m == MODE_USERSYSCALL || m == MODE_USERSYSCALL_GS || m == MODE_EXCEPTION) {
		pv_init(si);
		pt_base = si->pt_base;
		if (setup_traps(m != MODE_EXCEPTION)) {
			printk("bench: setup refused\n");
			return 1;
		}
	}
	if (m == MODE_USERSYSCALL_GS &&
	    HYPERVISOR_set_segment_base(SEGBASE_GS_USER, 0x10000)) {
		printk("bench: set_segment_base refused\n");
		return 1;
	}
	if (m == MODE_USERSYSCALL || m == MODE_USERSYSCALL_GS) {
		/* Warm-up, begin, loop, end: all driven from user mode. */
		user_iters = iters;
		user_mode_name = mode;
		enter_user((unsigned long)user_loop,
			   (unsigned long)(ustack + sizeof(ustack)) - 8, iters);
		return 0;
	}

	run(m, WARMUP_ITERS);
	printk("bench: begin %s %lu\n", mode, iters);
	run(m, iters);
	printk("bench: end %s\n", mode);
	return 0;
}
