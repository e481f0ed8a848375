/* A second vCPU from the inside: VCPUOP_initialise / up / is_up / down and
 * IPIs between the two vCPUs.  Needs a domain with at least 2 vCPUs.
 *
 * Command line: rounds=<R> (default 100): the IPI ping-pong rounds (vCPU 0
 * sends to vCPU 1's IPI port, whose handler answers on vCPU 0's).  Each
 * check prints "ok <name>" or "FAIL <name>: <detail>"; the last line is
 * "smp: <n> failures".  The domain always powers off. */
#include "check.h"
#include "console.h"
#include "events.h"
#include "lib.h"
#include "pv.h"
#include "smp.h"
#include "time.h"


#define DEFAULT_ROUNDS          100
#define NO_SUCH_VCPU            1000
#define TIMEOUT_NS              (5 * NSEC_PER_SEC)

static unsigned long rounds = DEFAULT_ROUNDS;
static struct vcpu_guest_context ctx;

/* IPI ports: ipi_port[v] is bound to (and handled on) vCPU v. */
static volatile long ipi_port[2] = { -1, -1 };
/* Events each handler took, and how many ran on another vCPU than its own. */
static volatile unsigned long ipi_events[2], ipi_wrong_vcpu[2];
static volatile long vcpu1_send_rc;
static volatile int vcpu1_go_down, vcpu1_down_called, vcpu1_back_from_down;
static volatile long vcpu1_down_rc;

static void summary(void)
{
	printk("smp: %d failures\n", failures);
}

/* vCPU 1's port: count, then answer on vCPU 0's port. */
static void on_ipi1(evtchn_port_t port, void *arg)
{
	long rc;

	(void)port;
	(void)arg;
	if (smp_id() != 1)
		ipi_wrong_vcpu[1]++;
	ipi_events[1]++;
	if (vcpu1_go_down)
		return;
	rc = evtchn_send((evtchn_port_t)ipi_port[0]);
	if (rc && !vcpu1_send_rc)
		vcpu1_send_rc = rc;
}

static void on_ipi0(evtchn_port_t port, void *arg)
{
	(void)port;
	(void)arg;
	if (smp_id() != 0)
		ipi_wrong_vcpu[0]++;
	ipi_events[0]++;
}

/* vCPU 1: bind an IPI port on itself, say hello on vCPU 0's port, serve
 * until told to go down, then VCPUOP_down itself. */
static void vcpu1_main(unsigned int id, void *arg)
{
	long port;

	(void)arg;
	port = evtchn_bind_ipi(id);
	if (port >= 0) {
		evtchn_set_handler((evtchn_port_t)port, on_ipi1, NULL);
		evtchn_unmask((evtchn_port_t)port);
	}
	ipi_port[1] = port;
	vcpu1_send_rc = evtchn_send((evtchn_port_t)ipi_port[0]);
	EVENTS_WAIT_UNTIL(vcpu1_go_down);
	events_mask();
	vcpu1_down_called = 1;
	vcpu1_down_rc = HYPERVISOR_vcpu_op(VCPUOP_down, id, NULL);
	/* Only once brought up again. */
	vcpu1_back_from_down = 1;
}

static int start_vcpu1(void)
{
	uint64_t deadline;
	long rc;
	int met;

	begin("smp.up_uninitialised");
	want_rc("VCPUOP_up(1) before VCPUOP_initialise", HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), -EINVAL);
	end();

	begin("smp.start_vcpu1");
	rc = smp_vcpu_initialise(1, vcpu1_main, NULL, smp_default_traps());
	want_rc("VCPUOP_initialise(1)", rc, 0);
	if (!rc)
		want_rc("is_up(1) after initialise", vcpu_is_up(1), 0);
	if (!rc)
		want_rc("VCPUOP_up(1)", rc = HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), 0);
	if (rc) {
		end();
		return -1;
	}
	/* vCPU 1's hello on our IPI port wakes us. */
	deadline = time_now() + TIMEOUT_NS;
	met = TIME_WAIT_UNTIL(ipi_events[0] >= 1, deadline);
	if (!smp_boot[1].started)
		fail("vCPU 1 did not reach its entry point");
	else if (!met)
		failf("no IPI from vCPU 1 (its bind_ipi: %ld, send: %ld)",
		      ipi_port[1], vcpu1_send_rc);
	want_hex("rdi at entry", smp_boot[1].rdi, 1);
	want_hex("rsi at entry", smp_boot[1].rsi, SMP_BOOT_MAGIC);
	want_hex("rsp at entry", smp_boot[1].rsp, smp_stack_top(1));
	end();
	return check_failed ? -1 : 0;
}

static void check_ipi_ports(void)
{
	struct evtchn_status st;
	int v;

	begin("smp.ipi_ports");
	for (v = 0; v < 2; v++) {
		if (ipi_port[v] < 0) {
			failf("bind_ipi(%d): %ld", v, ipi_port[v]);
			break;
		}
		want_rc("status", evtchn_status(DOMID_SELF, (evtchn_port_t)ipi_port[v], &st), 0);
		want_rc("status.status", st.status, EVTCHNSTAT_ipi);
		want_rc("status.vcpu", st.vcpu, v);
	}
	want("two ports", ipi_port[0] != ipi_port[1]);
	end();
}

static void check_pingpong(void)
{
	unsigned long base0 = ipi_events[0], base1 = ipi_events[1], i;
	uint64_t deadline;

	begin("smp.ipi_pingpong");
	deadline = time_now() + TIMEOUT_NS + rounds * NSEC_PER_MSEC;
	time_arm(deadline);
	for (i = 0; i < rounds; i++) {
		long rc = evtchn_send((evtchn_port_t)ipi_port[1]);

		if (rc) {
			want_rc("send to vCPU 1", rc, 0);
			break;
		}
		if (!TIME_WAIT_UNTIL(ipi_events[0] > base0 + i, deadline)) {
			failf("no answer in round %lu: vCPU 1 took %lu, vCPU 0 %lu",
			      i, ipi_events[1] - base1, ipi_events[0] - base0);
			break;
		}
	}
	want_rc("vCPU 1's sends", vcpu1_send_rc, 0);
	want_rc("IPIs handled by vCPU 1", ipi_events[1] - base1, rounds);
	want_rc("IPIs handled by vCPU 0", ipi_events[0] - base0, rounds);
	want_rc("vCPU 1's port handled elsewhere", ipi_wrong_vcpu[1], 0);
	want_rc("vCPU 0's port handled elsewhere", ipi_wrong_vcpu[0], 0);
	end();
}

static void check_down(int via_ipi)
{
	uint64_t deadline;
	long up = 1;

	begin("smp.vcpu_down");
	vcpu1_go_down = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (via_ipi) {
		/* vCPU 1 takes itself down once woken. */
		want_rc("send", evtchn_send((evtchn_port_t)ipi_port[1]), 0);
	} else {
		want_rc("VCPUOP_down(1) from vCPU 0",
			HYPERVISOR_vcpu_op(VCPUOP_down, 1, NULL), 0);
	}
	deadline = time_now() + TIMEOUT_NS;
	while (time_now() < deadline) {
		up = vcpu_is_up(1);
		if (up != 1)
			break;
		HYPERVISOR_sched_yield();
	}
	want_rc("is_up(1) after down", up, 0);
	if (via_ipi)
		want("vCPU 1 called VCPUOP_down", vcpu1_down_called);
	want("vCPU 1 stayed down", !vcpu1_back_from_down);
	end();
	check_rc("smp.is_up_0_after", vcpu_is_up(0), 1);
}

int guest_main(struct start_info *si)
{
	char arg[24];
	long rc, up;

	begin("smp.init");
	rc = events_init(si);
	want_rc("events_init", rc, 0);
	smp_init(si);
	if (!rc)
		want_rc("set_trap_table", HYPERVISOR_set_trap_table(smp_default_traps()), 0);
	if (!rc && cmdline_get(si->cmd_line, "rounds", arg, sizeof(arg)) >= 0 &&
	    parse_ulong(arg, &rounds))
		fail("bad rounds=");
	if (!check_failed) {
		rc = time_timer_init();
		if (rc < 0)
			want_rc("bind_virq(VIRQ_TIMER, 0)", rc, 0);
	}
	if (!check_failed) {
		rc = evtchn_bind_ipi(0);
		if (rc < 0)
			want_rc("bind_ipi(0)", rc, 0);
		else {
			ipi_port[0] = rc;
			evtchn_set_handler((evtchn_port_t)rc, on_ipi0, NULL);
			want_rc("unmask", evtchn_unmask((evtchn_port_t)rc), 0);
		}
	}
	end();
	if (check_failed) {
		summary();
		return 0;
	}
	events_unmask();

	check_rc("smp.is_up_0", vcpu_is_up(0), 1);
	begin("smp.is_up_1_before");
	up = vcpu_is_up(1);
	if (up == -ENOENT)
		fail("the domain has no vCPU 1 (is_up: -ENOENT); run with vcpus >= 2");
	want_rc("is_up(1)", up, 0);
	end();
	check_rc("smp.is_up_nonexistent", vcpu_is_up(NO_SUCH_VCPU), -ENOENT);
	if (up != 0) {
		summary();
		return 0;
	}

	if (start_vcpu1()) {
		/* Whatever state vCPU 1 is in, take it down from here. */
		if (vcpu_is_up(1) == 1)
			check_down(0);
		summary();
		return 0;
	}
	check_rc("smp.is_up_1", vcpu_is_up(1), 1);

	begin("smp.initialise_again");
	smp_fill_context(&ctx, 1, NULL);
	want_rc("VCPUOP_initialise(1)", HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx), -EEXIST);
	smp_fill_context(&ctx, 1, NULL);
	want_rc("VCPUOP_initialise(0)", HYPERVISOR_vcpu_op(VCPUOP_initialise, 0, &ctx), -EEXIST);
	end();

	check_ipi_ports();
	if (ipi_port[1] >= 0) {
		check_pingpong();
		check_down(1);
	} else {
		check_down(0);
	}
	summary();
	return 0;
}
