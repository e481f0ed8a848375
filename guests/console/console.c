/* The PV console ring from the inside: all of this guest's output after
 * start-up goes through the ring at start_info.console.domU.mfn (not
 * console_io), notified on console.domU.evtchn.
 *
 * Prints "console: ring ready" through the ring, then
 *
 *   test=echo (default)
 *       Reads one line of input from the ring (up to '\n', a '\r' before
 *       it dropped; 20 s at most) and prints "console: got <line>", then
 *       "console: ok".
 *   test=flood
 *       Writes 8192 bytes in one go: 128 lines of 63 letters and a '\n',
 *       the letters running 'a'..'z' on without restarting at each line
 *       (byte i is '\n' if i % 64 == 63, else 'a' + (i - i / 64) % 26),
 *       then "console: flood done".
 *
 * A failure prints "FAIL console.<step>: <detail>" through the ring if it
 * works, else through console_io, and the domain crashes; otherwise it
 * powers off. */
#include "consring.h"
#include "console.h"
#include "events.h"
#include "lib.h"
#include "mm.h"
#include "pv.h"
#include "time.h"

#define LINE_TIMEOUT_NS         (20 * NSEC_PER_SEC)
#define FLOOD_BYTES             8192
#define FLOOD_LINE              64

static char line[512];
static char flood[FLOOD_BYTES];

static int ring_fail(const char *step, long rc)
{
	consring_printf("FAIL console.%s: %ld\n", step, rc);
	return 1;
}

int guest_main(struct start_info *si)
{
	char test[16] = "echo";
	const char *step = NULL;
	long rc;
	int i;

	mm_init(si);
	rc = events_init(si);
	if (rc) {
		printk("FAIL console.init: events_init: %ld\n", rc);
		return 1;
	}
	HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL);
	rc = consring_init(si, &step);
	if (rc) {
		printk("FAIL console.init: %s: %ld\n", step, rc);
		return 1;
	}
	events_unmask();
	if ((void *)consring_intf != (char *)si + 2 * PAGE_SIZE)
		/* The builder's layout: start_info, store page, console page. */
		printk("console: note: ring at %p, not start_info + 8 KiB\n",
		       (void *)consring_intf);

	rc = consring_puts("console: ring ready\n");
	if (rc < 0) {
		printk("FAIL console.ready: %ld\n", rc);
		return 1;
	}

	cmdline_get(si->cmd_line, "test", test, sizeof(test));
	if (!strcmp(test, "echo")) {
		rc = consring_read_line(line, sizeof(line), LINE_TIMEOUT_NS);
		if (rc < 0)
			return ring_fail("echo", rc);
		consring_printf("console: got %s\n", line);
		rc = consring_puts("console: ok\n");
	} else if (!strcmp(test, "flood")) {
		for (i = 0; i < FLOOD_BYTES; i++)
			flood[i] = i % FLOOD_LINE == FLOOD_LINE - 1 ? '\n' :
				   (char)('a' + (i - i / FLOOD_LINE) % 26);
		rc = consring_write(flood, sizeof(flood));
		if (rc < 0)
			return ring_fail("flood", rc);
		rc = consring_puts("console: flood done\n");
	} else {
		consring_puts("FAIL console.cmdline: test= is not echo or flood\n");
		return 1;
	}
	return rc < 0 ? ring_fail("write", rc) : 0;
}
