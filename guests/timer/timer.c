/* Time and timers from the inside: the wallclock and system time in
 * shared_info, set_timer_op + SCHEDOP_block sleeps, the VCPUOP single-shot
 * and periodic timers, SCHEDOP_poll timeouts and the runstate.
 *
 * Command line: sleeps=<N> (default 20): the number of 10 ms sleeps, each
 * printing "timer: late <ns>" (the system time the VIRQ_TIMER handler read
 * minus the deadline).  Also prints "timer: wallclock <sec>" (current Unix
 * time as the domain sees it).  Each check prints "ok <name>" or
 * "FAIL <name>: <detail>"; the last line is "timer: <n> failures".  The
 * domain always powers off.
 *
 * spin=<N> instead measures event delivery into a running vCPU, for the
 * benchmark: N times it prints "timer: spinning <i>", spins with events
 * unmasked until Domain0 raises VIRQ_DEBUG, and prints "timer: debug virq
 * <ns>", the system time the upcall's handler read. */
#include "check.h"
#include "console.h"
#include "events.h"
#include "lib.h"
#include "pv.h"
#include "time.h"


#define DEFAULT_SLEEPS          20
#define SLEEP_NS                (10 * NSEC_PER_MSEC)
/* A timer never fires before its deadline on Xen's clock; the guest's
 * pvclock may lag the hypervisor's clock by a few microseconds (the
 * calibration of the published TSC scale), so a wake this little before
 * the deadline still counts as on time.  The "late" lines show it all. */
#define EARLY_TOLERANCE_NS      (100 * NSEC_PER_USEC)
#define WALLCLOCK_2024          1704067200UL    /* 2024-01-01T00:00:00Z */
#define WALLCLOCK_2100          4102444800UL

static void summary(void)
{
	printk("timer: %d failures\n", failures);
}

/* ---- Sleeping on the single-shot timer --------------------------------------- */

enum arm_how { ARM_SET_TIMER_OP, ARM_VCPUOP };

/* Arms the single-shot timer for deadline, then blocks until the VIRQ_TIMER
 * handler has run.  Returns the arming hypercall's result; *woke gets the
 * system time the handler read. */
static long sleep_until(uint64_t deadline, enum arm_how how, uint64_t *woke)
{
	unsigned long seen = timer_virqs[0];
	long rc;

	if (how == ARM_SET_TIMER_OP) {
		rc = time_set_timer(deadline);
	} else {
		struct vcpu_set_singleshot_timer st = { .timeout_abs_ns = deadline };

		rc = HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &st);
	}
	if (rc)
		return rc;
	EVENTS_WAIT_UNTIL(timer_virqs[0] != seen);
	*woke = timer_last_ns[0];
	return 0;
}

static void get_runstate(struct vcpu_runstate_info *rs, long *rc)
{
	memset(rs, 0, sizeof(*rs));
	*rc = HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 0, rs);
}

/* ---- Checks -------------------------------------------------------------------- */

static void check_wallclock(void)
{
	const volatile struct vcpu_time_info *t = &shared_info->vcpu_info[0].time;
	uint64_t sec;
	uint32_t nsec;

	begin("timer.vcpu_time_info");
	want("version even", (t->version & 1) == 0);
	want("tsc_to_system_mul set", t->tsc_to_system_mul != 0);
	want("system_time set", t->system_time != 0);
	end();

	begin("timer.wallclock");
	time_wallclock(&sec, &nsec);
	if (sec < WALLCLOCK_2024 || sec >= WALLCLOCK_2100)
		failf("wallclock %lu s is not between 2024 and 2100", sec);
	want("wc_nsec < 1e9", nsec < NSEC_PER_SEC);
	want("wc_version even", (shared_info->wc_version & 1) == 0);
	end();
	printk("timer: wallclock %lu\n", sec);
}

static void check_monotonic(void)
{
	uint64_t first, prev, now = 0;
	unsigned long i;

	begin("timer.monotonic");
	first = prev = time_now();
	for (i = 0; i < 100000; i++) {
		now = time_now();
		if (now < prev) {
			failf("system time went back from %lu to %lu", prev, now);
			break;
		}
		prev = now;
	}
	/* And it moves: 1 ms of spinning. */
	for (i = 0; i < 100000000 && now - first < NSEC_PER_MSEC; i++)
		now = time_now();
	if (now - first < NSEC_PER_MSEC)
		failf("system time advanced only %lu ns", now - first);
	end();
}

static void check_sleeps(unsigned long sleeps)
{
	struct vcpu_runstate_info before, after;
	long rc_before, rc_after, rc = 0;
	unsigned long i, early = 0;
	long worst = 0;

	get_runstate(&before, &rc_before);

	begin("timer.set_timer_op");
	for (i = 0; i < sleeps; i++) {
		uint64_t deadline = time_now() + SLEEP_NS, woke = 0;
		long late;

		rc = sleep_until(deadline, ARM_SET_TIMER_OP, &woke);
		if (rc) {
			want_rc("set_timer_op", rc, 0);
			break;
		}
		late = (long)(woke - deadline);
		printk("timer: late %ld\n", late);
		if (late < -(long)EARLY_TOLERANCE_NS) {
			early++;
			if (late < worst)
				worst = late;
		}
	}
	if (early)
		failf("%lu of %lu wakes came over 100 us before the deadline (worst %ld ns)",
		      early, sleeps, worst);
	end();

	get_runstate(&after, &rc_after);
	begin("timer.runstate");
	want_rc("get_runstate_info before", rc_before, 0);
	want_rc("get_runstate_info after", rc_after, 0);
	want_rc("state", after.state, RUNSTATE_running);
	want("time running > 0", after.time[RUNSTATE_running] > 0);
	if (after.state_entry_time > time_now() + EARLY_TOLERANCE_NS)
		failf("state_entry_time %lu is after now %lu", after.state_entry_time, time_now());
	if (!rc && after.time[RUNSTATE_blocked] < before.time[RUNSTATE_blocked] +
						 sleeps * SLEEP_NS / 2)
		failf("blocked time grew %lu ns over %lu sleeps of %lu ns",
		      after.time[RUNSTATE_blocked] - before.time[RUNSTATE_blocked],
		      sleeps, SLEEP_NS);
	end();
}

/* VCPUOP_register_runstate_memory_area: written at once, and again (with
 * the blocked time grown) whenever the vCPU runs after a sleep. */
static struct vcpu_runstate_info runstate_area;

static void check_runstate_area(void)
{
	volatile struct vcpu_runstate_info *area = &runstate_area;
	uint64_t address = (uint64_t)&runstate_area, woke;
	uint64_t blocked;
	long rc;

	begin("timer.runstate_area");
	rc = HYPERVISOR_vcpu_op(VCPUOP_register_runstate_memory_area, 0, &address);
	want_rc("register", rc, 0);
	want_rc("state", area->state, RUNSTATE_running);
	want("time running > 0", area->time[RUNSTATE_running] > 0);
	blocked = area->time[RUNSTATE_blocked];
	want_rc("sleep", sleep_until(time_now() + SLEEP_NS, ARM_SET_TIMER_OP, &woke), 0);
	if (area->time[RUNSTATE_blocked] < blocked + SLEEP_NS / 2)
		failf("blocked time in the area grew %lu ns over a %lu ns sleep",
		      area->time[RUNSTATE_blocked] - blocked, SLEEP_NS);
	address = 0;
	want_rc("unregister", HYPERVISOR_vcpu_op(VCPUOP_register_runstate_memory_area, 0, &address), 0);
	end();
}

static void check_singleshot(void)
{
	struct vcpu_set_singleshot_timer st;
	uint64_t deadline, woke = 0;
	long rc;

	begin("timer.singleshot");
	deadline = time_now() + SLEEP_NS;
	rc = sleep_until(deadline, ARM_VCPUOP, &woke);
	want_rc("set_singleshot_timer", rc, 0);
	if (!rc && woke + EARLY_TOLERANCE_NS < deadline)
		failf("woke %lu ns before the deadline", deadline - woke);
	end();

	begin("timer.singleshot_future_passed");
	st.timeout_abs_ns = time_now() - NSEC_PER_MSEC;
	st.flags = VCPU_SSHOTTMR_future;
	want_rc("result", HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &st), -ETIME);
	end();
}

#define MAX_TICKS 64
static volatile uint64_t ticks[MAX_TICKS];
static volatile unsigned int nr_ticks;

static void record_tick(unsigned int vcpu, uint64_t now)
{
	(void)vcpu;
	if (nr_ticks < MAX_TICKS)
		ticks[nr_ticks] = now;
	nr_ticks++;
}

static void check_periodic(void)
{
	struct vcpu_set_periodic_timer p = { .period_ns = SLEEP_NS };
	uint64_t t0, end_t, deadline, woke = 0;
	unsigned int i, n = 0, at_stop;
	long rc;

	begin("timer.periodic");
	nr_ticks = 0;
	timer_hook = record_tick;
	t0 = time_now();
	end_t = t0 + 10 * SLEEP_NS;
	rc = HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &p);
	want_rc("set_periodic_timer", rc, 0);
	/* The single-shot timer wakes us at the end should no tick come. */
	want_rc("set_timer_op", time_set_timer(end_t), 0);
	if (!check_failed)
		EVENTS_WAIT_UNTIL(time_now() >= end_t);
	want_rc("stop_periodic_timer", HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL), 0);
	time_set_timer(0);
	for (i = 0; i < nr_ticks && i < MAX_TICKS; i++)
		if (ticks[i] >= t0 && ticks[i] < end_t)
			n++;
	if (n < 8 || n > 11)
		failf("%u ticks of a 10 ms periodic timer in 100 ms, want ~10", n);
	end();

	/* Stopped: the next VIRQ_TIMER is the single-shot one 35 ms on. */
	begin("timer.periodic_stopped");
	at_stop = nr_ticks;
	deadline = time_now() + 35 * NSEC_PER_MSEC;
	rc = sleep_until(deadline, ARM_SET_TIMER_OP, &woke);
	want_rc("set_timer_op", rc, 0);
	if (!rc && woke + EARLY_TOLERANCE_NS < deadline)
		failf("a VIRQ_TIMER %lu ns before the single-shot deadline", deadline - woke);
	want("one VIRQ_TIMER in 35 ms", nr_ticks == at_stop + 1);
	end();
	timer_hook = NULL;
}

static void check_poll(void)
{
	evtchn_port_t port;
	uint64_t t0, t1, deadline;
	long rc, ipi;

	/* An IPI port of this vCPU, masked (events_init masked every port):
	 * its events wake a poller but raise no upcall. */
	ipi = evtchn_bind_ipi(0);
	begin("timer.poll_timeout");
	if (ipi < 0) {
		want_rc("bind_ipi(0)", ipi, 0);
		end();
		return;
	}
	port = (evtchn_port_t)ipi;
	evtchn_mask(port);
	events_mask();
	t0 = time_now();
	deadline = t0 + 20 * NSEC_PER_MSEC;
	rc = HYPERVISOR_sched_poll(&port, 1, deadline);
	t1 = time_now();
	events_unmask();
	want_rc("poll", rc, 0);
	if (!rc && t1 + EARLY_TOLERANCE_NS < deadline)
		failf("returned %lu ns before the timeout", deadline - t1);
	if (!rc && t1 - t0 > NSEC_PER_SEC)
		failf("returned after %lu ns for a 20 ms timeout", t1 - t0);
	end();

	begin("timer.poll_pending");
	want_rc("send", evtchn_send(port), 0);
	want("port pending", evtchn_is_pending(port));
	events_mask();
	t0 = time_now();
	rc = HYPERVISOR_sched_poll(&port, 1, t0 + NSEC_PER_SEC);
	t1 = time_now();
	events_unmask();
	want_rc("poll", rc, 0);
	if (!rc && t1 - t0 >= NSEC_PER_SEC / 2)
		failf("took %lu ns on a pending port", t1 - t0);
	evtchn_clear_pending(port);
	want_rc("close", evtchn_close(port), 0);
	end();
}

/* ---- VCPUOP_register_vcpu_info (last: the event library keeps using the
 * shared_info slot, so nothing may need an upcall afterwards) ------------- */

static uint8_t moved_vcpu_info[4096] __attribute__((aligned(4096)));

static void check_register_vcpu_info(void)
{
	volatile struct vcpu_info *old = &shared_info->vcpu_info[0];
	volatile struct vcpu_info *moved = (volatile struct vcpu_info *)(moved_vcpu_info + 128);
	struct vcpu_register_vcpu_info info = {
		.mfn = pv_virt_to_mfn(moved_vcpu_info),
		.offset = 4,
	};
	uint32_t mul = old->time.tsc_to_system_mul;

	begin("timer.register_vcpu_info");
	events_mask();
	want_rc("misaligned offset", HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &info), -EINVAL);
	info.offset = 4096 - 32;
	want_rc("offset past the page", HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &info), -EINVAL);
	info.offset = 128;
	want_rc("register", HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &info), 0);
	/* Xen copies the old contents over and marks everything pending. */
	want_hex("upcall_pending", moved->evtchn_upcall_pending, 1);
	want_hex("upcall_mask", moved->evtchn_upcall_mask, 1);
	want_hex("pending_sel", moved->evtchn_pending_sel, ~0UL);
	want_hex("time.tsc_to_system_mul", moved->time.tsc_to_system_mul, mul);
	want_hex("time.version even", moved->time.version & 1, 0);
	want_rc("register again", HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &info), -EINVAL);
	end();
}

/* ---- spin=N: VIRQ_DEBUG into a spinning vCPU ----------------------------------- */

static volatile unsigned long debug_virqs;
static volatile uint64_t debug_virq_at;

static void on_debug_virq(evtchn_port_t port, void *arg)
{
	(void)port;
	(void)arg;
	debug_virq_at = time_now();
	debug_virqs++;
}

static void spin_for_virqs(unsigned long n)
{
	unsigned long i;
	long port;

	begin("timer.bind_virq_debug");
	port = evtchn_bind_virq(VIRQ_DEBUG, 0);
	if (port < 0)
		want_rc("bind_virq(VIRQ_DEBUG, 0)", port, 0);
	end();
	if (port < 0)
		return;
	evtchn_set_handler((evtchn_port_t)port, on_debug_virq, NULL);
	evtchn_unmask((evtchn_port_t)port);
	for (i = 0; i < n; i++) {
		printk("timer: spinning %lu\n", i);
		while (debug_virqs == i)
			asm volatile("pause" ::: "memory");
		printk("timer: debug virq %lu\n", debug_virq_at);
	}
}

int guest_main(struct start_info *si)
{
	unsigned long spins = 0;
	char arg[24];
	unsigned long sleeps = DEFAULT_SLEEPS;
	long rc;

	begin("timer.init");
	rc = events_init(si);
	want_rc("events_init", rc, 0);
	if (!rc && cmdline_get(si->cmd_line, "sleeps", arg, sizeof(arg)) >= 0 &&
	    parse_ulong(arg, &sleeps))
		fail("bad sleeps=");
	if (!rc && cmdline_get(si->cmd_line, "spin", arg, sizeof(arg)) >= 0 &&
	    parse_ulong(arg, &spins))
		fail("bad spin=");
	end();
	if (check_failed) {
		summary();
		return 0;
	}

	/* PV vCPUs start with a 100 Hz periodic timer: off, so that every
	 * VIRQ_TIMER below is one the check asked for. */
	check_rc("timer.stop_default_periodic",
		 HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL), 0);

	begin("timer.bind_virq");
	rc = time_timer_init();
	if (rc < 0)
		want_rc("bind_virq(VIRQ_TIMER, 0)", rc, 0);
	end();
	events_unmask();
	if (rc < 0) {
		summary();
		return 0;
	}

	if (spins) {
		spin_for_virqs(spins);
		summary();
		return 0;
	}
	check_wallclock();
	check_monotonic();
	check_sleeps(sleeps);
	check_runstate_area();
	check_singleshot();
	check_periodic();
	check_poll();
	check_register_vcpu_info();
	summary();
	return 0;
}
