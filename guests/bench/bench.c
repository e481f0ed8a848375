#include "console.h"
#include "hypercall.h"
#include "lib.h"

#define WARMUP_ITERS    200
#define DEFAULT_ITERS   20000

enum mode { MODE_FLOOR, MODE_PAGE, MODE_SYSCALL };

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
	}
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

	run(m, WARMUP_ITERS);
	printk("bench: begin %s %lu\n", mode, iters);
	run(m, iters);
	printk("bench: end %s\n", mode);
	return 0;
}
