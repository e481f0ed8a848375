#include "console.h"
#include "hypercall.h"
#include "lib.h"

void start_kernel(struct start_info *si);

void xen_shutdown(unsigned int reason)
{
	struct sched_shutdown sd = { .reason = reason };

	HYPERVISOR_sched_op(SCHEDOP_shutdown, &sd);
	/* Should not get here; keep yielding and retry as a crash. */
	for (;;) {
		sd.reason = SHUTDOWN_crash;
		HYPERVISOR_sched_op(SCHEDOP_shutdown, &sd);
		HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
	}
}

void start_kernel(struct start_info *si)
{
	int rc;

	if (strncmp(si->magic, "xen-3.0-x86_64", 14)) {
		console_puts("start: bad start_info magic\n");
		xen_shutdown(SHUTDOWN_crash);
	}

	rc = guest_main(si);
	xen_shutdown(rc == 0 ? SHUTDOWN_poweroff : SHUTDOWN_crash);
}
