/* Event channels between two domains, from the inside.
 *
 *   role=server port=<P> rounds=<R>
 *       The toolstack has allocated port P here, unbound for the client.
 *       Unmasks P and answers each of the first R events on it with a send
 *       on P, then powers off.
 *   role=client peer=<domid> rport=<P> rounds=<R>
 *       Binds to <peer, P>, checks the error paths a domain can see and the
 *       masking rules, then plays R rounds of ping-pong, printing
 *       "evtchn: rtt <ticks>" (rdtsc) for each.
 *
 * Each check prints "ok <name>" or "FAIL <name>: <detail>"; the last line is
 * "evtchn: <n> failures".  The domain always powers off. */
#include "check.h"
#include "console.h"
#include "events.h"
#include "lib.h"
#include "pv.h"
#include "time.h"


#define DEFAULT_ROUNDS          10
#define NO_SUCH_DOMAIN          0x7ef0
#define NEVER_ALLOCATED_PORT    1000

static unsigned long rounds = DEFAULT_ROUNDS;

static void summary(void)
{
	printk("evtchn: %d failures\n", failures);
}

/* "key=<decimal>" from the command line: 0 if present and valid, 1 if
 * absent, -1 if not a number. */
static int arg_ulong(const char *cmdline, const char *key, unsigned long *out)
{
	char buf[24];

	if (cmdline_get(cmdline, key, buf, sizeof(buf)) < 0)
		return 1;
	return parse_ulong(buf, out) ? -1 : 0;
}

/* ---- Server ---------------------------------------------------------------- */

static evtchn_port_t server_port;
static volatile unsigned long server_events;
static volatile long server_send_rc;

static void server_on_event(evtchn_port_t port, void *arg)
{
	long rc;

	(void)arg;
	if (server_events >= rounds)
		return;
	rc = evtchn_send(port);
	if (rc && !server_send_rc)
		server_send_rc = rc;
	server_events++;
}

static void run_server(void)
{
	struct evtchn_status st;
	uint64_t deadline;
	long rc;
	int met;

	begin("evtchn.server_status");
	rc = evtchn_status(DOMID_SELF, server_port, &st);
	want_rc("status", rc, 0);
	if (!rc && st.status != EVTCHNSTAT_unbound && st.status != EVTCHNSTAT_interdomain)
		failf("status %u, want unbound (1) or interdomain (2)", st.status);
	end();

	evtchn_set_handler(server_port, server_on_event, NULL);
	check_rc("evtchn.server_unmask", evtchn_unmask(server_port), 0);

	/* Generous: the client boots alongside and prints a line a round. */
	deadline = time_now() + 30 * NSEC_PER_SEC + rounds * 10 * NSEC_PER_MSEC;
	met = TIME_WAIT_UNTIL(server_events >= rounds, deadline);

	begin("evtchn.server_rounds");
	if (!met)
		failf("%lu of %lu events before the timeout", server_events, rounds);
	want_rc("send", server_send_rc, 0);
	end();
}

/* ---- Client ---------------------------------------------------------------- */

static volatile unsigned long client_replies;
static volatile unsigned long ipi_events;

static void client_on_reply(evtchn_port_t port, void *arg)
{
	(void)port;
	(void)arg;
	client_replies++;
}

static void client_on_ipi(evtchn_port_t port, void *arg)
{
	(void)port;
	(void)arg;
	ipi_events++;
}

static void check_masking(void)
{
	unsigned long before;
	long ipi;
	int met;

	/* A local port to raise: an IPI to this vCPU.  Ports start masked
	 * (events_init masks them all); mask it anyway. */
	begin("evtchn.masked_no_upcall");
	ipi = evtchn_bind_ipi(0);
	if (ipi < 0) {
		want_rc("bind_ipi(0)", ipi, 0);
		end();
		return;
	}
	evtchn_set_handler((evtchn_port_t)ipi, client_on_ipi, NULL);
	evtchn_mask((evtchn_port_t)ipi);
	before = ipi_events;
	want_rc("send", evtchn_send((evtchn_port_t)ipi), 0);
	HYPERVISOR_sched_yield();
	want("pending bit set", evtchn_is_pending((evtchn_port_t)ipi));
	want("no upcall while masked", ipi_events == before);
	end();

	begin("evtchn.unmask_delivers");
	want_rc("unmask", evtchn_unmask((evtchn_port_t)ipi), 0);
	met = TIME_WAIT_UNTIL(ipi_events != before, time_now() + NSEC_PER_SEC);
	want("upcall after unmask", met);
	want("one upcall", ipi_events == before + 1);
	want("pending bit cleared", !evtchn_is_pending((evtchn_port_t)ipi));
	want("mask bit cleared", !evtchn_is_masked((evtchn_port_t)ipi));
	want_rc("close", evtchn_close((evtchn_port_t)ipi), 0);
	end();
	evtchn_set_handler((evtchn_port_t)ipi, NULL, NULL);
}

static void run_client(domid_t peer, evtchn_port_t rport)
{
	struct evtchn_status st;
	evtchn_port_t lport;
	uint64_t deadline;
	unsigned long i, base;
	long rc;

	begin("evtchn.bind_virq_timer");
	rc = time_timer_init();
	if (rc < 0)
		want_rc("bind_virq(VIRQ_TIMER, 0)", rc, 0);
	end();
	check_rc("evtchn.bind_virq_timer_again", evtchn_bind_virq(VIRQ_TIMER, 0), -EEXIST);

	begin("evtchn.bind_interdomain");
	rc = evtchn_bind_interdomain(peer, rport);
	if (rc < 0)
		want_rc("bind_interdomain", rc, 0);
	/* Xen sets the new local port pending, in case the remote end
	 * notified the unbound port before (the port is masked here). */
	else
		want("local port pending after the bind", evtchn_is_pending((evtchn_port_t)rc));
	end();
	if (rc < 0)
		return;
	lport = (evtchn_port_t)rc;
	evtchn_clear_pending(lport);

	check_rc("evtchn.bind_interdomain_again", evtchn_bind_interdomain(peer, rport), -EINVAL);
	check_rc("evtchn.bind_interdomain_no_domain",
		 evtchn_bind_interdomain(NO_SUCH_DOMAIN, rport), -ESRCH);

	begin("evtchn.status");
	want_rc("status", evtchn_status(DOMID_SELF, lport, &st), 0);
	want_rc("status.status", st.status, EVTCHNSTAT_interdomain);
	want_rc("status.vcpu", st.vcpu, 0);
	want_rc("status.u.interdomain.dom", st.u.interdomain.dom, peer);
	want_rc("status.u.interdomain.port", st.u.interdomain.port, rport);
	end();

	check_rc("evtchn.send_port0", evtchn_send(0), -EINVAL);
	check_rc("evtchn.send_port4095", evtchn_send(EVTCHN_2L_NR_CHANNELS - 1), -EINVAL);
	check_rc("evtchn.close_unallocated", evtchn_close(NEVER_ALLOCATED_PORT), -EINVAL);
	check_rc("evtchn.alloc_unbound_other_domain", evtchn_alloc_unbound(peer, DOMID_SELF), -EPERM);
	check_rc("evtchn.bind_ipi_vcpu5", evtchn_bind_ipi(5), -ENOENT);

	check_masking();

	/* Ping-pong: one watchdog deadline for the whole phase, so the timer
	 * is armed once, not in every round. */
	evtchn_set_handler(lport, client_on_reply, NULL);
	begin("evtchn.pingpong");
	want_rc("unmask", evtchn_unmask(lport), 0);
	deadline = time_now() + 10 * NSEC_PER_SEC + rounds * 10 * NSEC_PER_MSEC;
	time_arm(deadline);
	base = client_replies;
	for (i = 0; i < rounds && !check_failed; i++) {
		uint64_t t0, t1;
		int met;

		t0 = rdtsc();
		rc = evtchn_send(lport);
		met = TIME_WAIT_UNTIL(client_replies > base + i, deadline);
		t1 = rdtsc();
		want_rc("send", rc, 0);
		if (!met) {
			failf("no reply in round %lu (%lu replies)", i, client_replies - base);
			break;
		}
		printk("evtchn: rtt %lu\n", t1 - t0);
	}
	want("one reply per round", client_replies - base == rounds);
	end();
}

int guest_main(struct start_info *si)
{
	char role[16];
	unsigned long port = 0, peer = 0;
	long rc;

	begin("evtchn.init");
	rc = events_init(si);
	want_rc("events_init", rc, 0);
	end();
	if (rc) {
		summary();
		return 0;
	}
	events_unmask();

	begin("evtchn.cmdline");
	if (cmdline_get(si->cmd_line, "role", role, sizeof(role)) < 0)
		fail("no role=server|client");
	else if (arg_ulong(si->cmd_line, "rounds", &rounds) < 0)
		fail("bad rounds=");
	else if (!strcmp(role, "server")) {
		if (arg_ulong(si->cmd_line, "port", &port) || port >= EVTCHN_NR_HANDLED)
			fail("server: bad or missing port= (below 1024)");
	} else if (!strcmp(role, "client")) {
		if (arg_ulong(si->cmd_line, "peer", &peer) || peer >= DOMID_SELF)
			fail("client: bad or missing peer=");
		else if (arg_ulong(si->cmd_line, "rport", &port) || port >= EVTCHN_2L_NR_CHANNELS)
			fail("client: bad or missing rport=");
	} else {
		fail("role is neither server nor client");
	}
	end();
	if (check_failed) {
		summary();
		return 0;
	}

	if (!strcmp(role, "server")) {
		server_port = (evtchn_port_t)port;
		/* A watchdog for the wait: VIRQ_TIMER on this vCPU. */
		begin("evtchn.server_bind_virq_timer");
		rc = time_timer_init();
		if (rc < 0)
			want_rc("bind_virq(VIRQ_TIMER, 0)", rc, 0);
		end();
		run_server();
	} else {
		run_client((domid_t)peer, (evtchn_port_t)port);
	}
	summary();
	return 0;
}
