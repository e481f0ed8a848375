/* xenstore from the inside, over the store ring and event channel that
 * start_info names (store_mfn, store_evtchn).
 *
 *   test=ops (default)
 *       Checks every operation a domain may do: reads of its own nodes
 *       (domid, name), writes, mkdir, directory and rm under data/,
 *       permissions, the errors (ENOENT, EACCES, EPERM, EINVAL), watches,
 *       transactions (commit, abort, conflict and retry) and malformed raw
 *       requests.  Each check prints "ok <name>" or "FAIL <name>: <detail>";
 *       the last line is "xenstore: <n> failures".
 *   test=bench count=<N> (default 1000)
 *       N XS_READs of "domid" back to back, then N XS_WRITEs of
 *       "data/bench", each batch timed with rdtsc:
 *           xenstore: read <N> ops <ticks> ticks
 *           xenstore: write <N> ops <ticks> ticks
 *       then "xenstore: <n> failures".
 *
 * Relies on the xl layout: /local/domain/<id>/{domid,name} owned by
 * Domain0 and readable by the domain, /local/domain/<id>/data owned by the
 * domain.  The domain always powers off. */
#include "check.h"
#include "console.h"
#include "events.h"
#include "lib.h"
#include "mm.h"
#include "pv.h"
#include "time.h"
#include "xenstore.h"

#define DEFAULT_BENCH_COUNT     1000
#define EVENT_TIMEOUT_NS        (5 * NSEC_PER_SEC)
#define QUIET_NS                (300 * NSEC_PER_MSEC)   /* "no event" window */
#define BIG_VALUE_LEN           2000    /* both ways across the 1 KiB rings */
#define NO_SUCH_TX              0x7ffffff0U

static unsigned long domid;
static char domid_str[12];
static char domain_path[32];

static char buf[XENSTORE_PAYLOAD_MAX + 64];
static char big[BIG_VALUE_LEN];
static char long_path[XENSTORE_REL_PATH_MAX + 2];
static char tmp[64];

static void summary(void)
{
	printk("xenstore: %d failures\n", failures);
}

/* want_rc with the last XS_ERROR name in the message. */
static void want_xs(const char *what, long got, long want)
{
	if (check_failed || got == want)
		return;
	failf("%s: got %ld, want %ld (last error reply \"%s\")", what, got, want,
	      xs_error_name());
}

/* A read that must give exactly value. */
static void want_value(const char *what, uint32_t tx, const char *path, const char *value)
{
	long rc = xs_read(tx, path, buf, sizeof(buf));

	if (check_failed)
		return;
	if (rc < 0)
		want_xs(what, rc, (long)strlen(value));
	else if ((size_t)rc != strlen(value) || strcmp(buf, value))
		failf("%s: read \"%s\" (%ld bytes), want \"%s\"", what, buf, rc, value);
}

/* The next event with this token (others are skipped): 0 or -ETIME. */
static long wait_event(const char *token, struct xs_watch_event *ev, uint64_t timeout)
{
	uint64_t deadline = time_now() + timeout;

	for (;;) {
		uint64_t now = time_now();
		long rc;

		if (now >= deadline)
			return -ETIME;
		rc = xs_read_watch(ev, deadline - now);
		if (rc)
			return rc;
		if (!strcmp(ev->token, token))
			return 0;
	}
}

/* Waits for an event (token, path) up to EVENT_TIMEOUT_NS; other events
 * with the token are skipped. */
static void want_event(const char *what, const char *token, const char *path)
{
	struct xs_watch_event ev;
	uint64_t deadline = time_now() + EVENT_TIMEOUT_NS;

	for (;;) {
		uint64_t now = time_now();
		long rc = now < deadline ? wait_event(token, &ev, deadline - now) : -ETIME;

		if (rc) {
			failf("%s: no event (%s, %s): %ld", what, path, token, rc);
			return;
		}
		if (!strcmp(ev.path, path))
			return;
	}
}

/* Drops queued and arriving events for a short while. */
static void drain_events(void)
{
	struct xs_watch_event ev;

	while (xs_read_watch(&ev, 50 * NSEC_PER_MSEC) == 0)
		;
}

/* ---- Identity --------------------------------------------------------------- */

static int check_identity(struct start_info *si)
{
	long rc;

	begin("xenstore.ring_location");
	/* The builder's layout: start_info, then the store page. */
	want_hex("store page VA", (unsigned long)xs_intf, (unsigned long)si + PAGE_SIZE);
	want_rc("store port", xs_port, si->store_evtchn);
	end();

	begin("xenstore.read_domid");
	rc = xs_read(0, "domid", buf, sizeof(buf));
	if (rc < 0)
		want_xs("read domid", rc, 0);
	else if (parse_ulong(buf, &domid) || domid == 0 || domid >= DOMID_SELF)
		failf("domid \"%s\" is not a domain id", buf);
	end();
	if (check_failed)
		return -1;
	snprintk(domid_str, sizeof(domid_str), "%lu", domid);
	snprintk(domain_path, sizeof(domain_path), "/local/domain/%lu", domid);
	printk("xenstore: domid %lu\n", domid);

	begin("xenstore.get_domain_path");
	rc = xs_get_domain_path((domid_t)domid, buf, sizeof(buf));
	if (rc < 0)
		want_xs("get_domain_path", rc, 0);
	else if (strcmp(buf, domain_path))
		failf("\"%s\", want \"%s\"", buf, domain_path);
	end();

	begin("xenstore.read_absolute");
	snprintk(tmp, sizeof(tmp), "%s/domid", domain_path);
	want_value("read", 0, tmp, domid_str);
	end();

	begin("xenstore.read_name");
	rc = xs_read(0, "name", buf, sizeof(buf));
	if (rc <= 0)
		want_xs("read name (non-empty)", rc, 1);
	else
		printk("xenstore: name %s\n", buf);
	end();
	return 0;
}

/* ---- Nodes ----------------------------------------------------------------- */

static void check_nodes(void)
{
	long rc;
	int i, seen_a = 0, seen_b = 0, seen_dir = 0, seen_test = 0;

	begin("xenstore.write_read");
	want_xs("write", xs_write_str(0, "data/test", "hello"), 0);
	want_value("read back", 0, "data/test", "hello");
	end();

	begin("xenstore.overwrite");
	want_xs("write", xs_write_str(0, "data/test", "world!"), 0);
	want_value("read back", 0, "data/test", "world!");
	end();

	begin("xenstore.write_empty");
	want_xs("write", xs_write(0, "data/empty", "", 0), 0);
	want_value("read back", 0, "data/empty", "");
	end();

	begin("xenstore.big_value");
	for (i = 0; i < BIG_VALUE_LEN; i++)
		big[i] = (char)('A' + i % 26);
	want_xs("write", xs_write(0, "data/big", big, BIG_VALUE_LEN), 0);
	rc = xs_read(0, "data/big", buf, sizeof(buf));
	want_xs("read length", rc, BIG_VALUE_LEN);
	if (!check_failed)
		for (i = 0; i < BIG_VALUE_LEN; i++)
			if (buf[i] != big[i]) {
				failf("byte %d: 0x%x, want 0x%x", i, buf[i], big[i]);
				break;
			}
	end();

	begin("xenstore.mkdir");
	want_xs("mkdir", xs_mkdir(0, "data/dir"), 0);
	want_value("read the new node", 0, "data/dir", "");
	want_xs("mkdir again", xs_mkdir(0, "data/dir"), 0);
	end();

	begin("xenstore.directory");
	want_xs("write a", xs_write_str(0, "data/dir/a", "1"), 0);
	want_xs("write b", xs_write_str(0, "data/dir/b", "2"), 0);
	rc = xs_directory(0, "data/dir", buf, sizeof(buf));
	want_xs("directory count", rc, 2);
	for (i = 0; !check_failed && i < rc; i++) {
		const char *name = xs_list_item(buf, rc, i);

		seen_a |= !strcmp(name, "a");
		seen_b |= !strcmp(name, "b");
	}
	want("lists a and b", seen_a && seen_b);
	end();

	begin("xenstore.directory_data");
	rc = xs_directory(0, "data", buf, sizeof(buf));
	if (rc < 0)
		want_xs("directory", rc, 0);
	for (i = 0; i < rc; i++) {
		const char *name = xs_list_item(buf, rc, i);

		seen_dir |= !strcmp(name, "dir");
		seen_test |= !strcmp(name, "test");
	}
	want("lists dir and test", seen_dir && seen_test);
	end();

	begin("xenstore.rm");
	want_xs("rm", xs_rm(0, "data/dir"), 0);
	want_xs("read a child", xs_read(0, "data/dir/a", buf, sizeof(buf)), -ENOENT);
	want_xs("directory", xs_directory(0, "data/dir", buf, sizeof(buf)), -ENOENT);
	end();

	/* Xen: removing a missing node is fine if its parent exists. */
	check_rc("xenstore.rm_missing", xs_rm(0, "data/dir"), 0);
	check_rc("xenstore.rm_missing_parent", xs_rm(0, "data/nosuch/x"), -ENOENT);

	begin("xenstore.enoent");
	want_xs("read", xs_read(0, "data/missing", buf, sizeof(buf)), -ENOENT);
	want("error name ENOENT", !strcmp(xs_error_name(), "ENOENT"));
	end();
}

/* ---- Permissions ------------------------------------------------------------- */

static void check_perms(void)
{
	char own[12], dom0_read[] = "r0";
	const char *perms[2];
	long rc;

	snprintk(own, sizeof(own), "n%lu", domid);

	begin("xenstore.get_perms_own");
	/* Created by the domain under its data/: the domain owns it. */
	rc = xs_get_perms(0, "data/test", buf, sizeof(buf));
	if (rc < 1)
		want_xs("get_perms", rc, 1);
	else if (strcmp(buf, own))
		failf("owner entry \"%s\", want \"%s\"", buf, own);
	end();

	begin("xenstore.get_perms_name");
	rc = xs_get_perms(0, "name", buf, sizeof(buf));
	if (rc < 1)
		want_xs("get_perms", rc, 1);
	else if (strcmp(buf, "n0"))
		failf("owner entry \"%s\", want \"n0\"", buf);
	end();

	begin("xenstore.set_perms");
	perms[0] = own;
	perms[1] = dom0_read;
	want_xs("set_perms", xs_set_perms(0, "data/test", perms, 2), 0);
	rc = xs_get_perms(0, "data/test", buf, sizeof(buf));
	want_xs("get_perms count", rc, 2);
	if (!check_failed && (strcmp(xs_list_item(buf, rc, 0), own) ||
			      strcmp(xs_list_item(buf, rc, 1), dom0_read)))
		failf("\"%s\" \"%s\", want \"%s\" \"%s\"", xs_list_item(buf, rc, 0),
		      xs_list_item(buf, rc, 1), own, dom0_read);
	end();

	/* Only the owner may change the ACL ... */
	perms[0] = own;
	check_rc("xenstore.set_perms_not_owner", xs_set_perms(0, "name", perms, 1), -EACCES);
	/* ... and only Domain0 may give a node away (xenstored: EPERM). */
	perms[0] = "n0";
	check_rc("xenstore.set_perms_give_away", xs_set_perms(0, "data/test", perms, 1), -EPERM);
	perms[0] = "x5";
	check_rc("xenstore.set_perms_bad_string", xs_set_perms(0, "data/test", perms, 1), -EINVAL);
}

/* ---- Errors ------------------------------------------------------------------ */

static void check_errors(void)
{
	size_t i;

	/* Domain0 owns name: readable, not writable. */
	check_rc("xenstore.eacces_write_name", xs_write_str(0, "name", "x"), -EACCES);
	check_rc("xenstore.eacces_write_dom0", xs_write_str(0, "/local/domain/0/x", "x"), -EACCES);
	check_rc("xenstore.eacces_read_dom0",
		 xs_read(0, "/local/domain/0/name", buf, sizeof(buf)), -EACCES);

	check_rc("xenstore.einval_double_slash", xs_write_str(0, "data//x", "x"), -EINVAL);
	check_rc("xenstore.einval_trailing_slash", xs_write_str(0, "data/x/", "x"), -EINVAL);
	check_rc("xenstore.einval_bad_char", xs_write_str(0, "data/a*b", "x"), -EINVAL);
	check_rc("xenstore.einval_empty_path", xs_read(0, "", buf, sizeof(buf)), -EINVAL);

	/* XENSTORE_REL_PATH_MAX: a relative path of 2048 characters is valid
	 * (only missing), one of 2049 gets EINVAL.  The requests are over a
	 * ring long: they go in several pieces. */
	memcpy(long_path, "data/", 5);
	for (i = 5; i < XENSTORE_REL_PATH_MAX; i++)
		long_path[i] = 'x';
	long_path[XENSTORE_REL_PATH_MAX] = '\0';
	check_rc("xenstore.path_max_ok", xs_read(0, long_path, buf, sizeof(buf)), -ENOENT);
	long_path[XENSTORE_REL_PATH_MAX] = 'x';
	long_path[XENSTORE_REL_PATH_MAX + 1] = '\0';
	check_rc("xenstore.einval_path_too_long", xs_read(0, long_path, buf, sizeof(buf)), -EINVAL);
}

/* ---- Watches ------------------------------------------------------------------ */

static void check_watches(void)
{
	struct xs_watch_event ev;
	char abs_path[64];
	long rc;

	drain_events();

	begin("xenstore.watch_initial");
	want_xs("watch", xs_watch("data/w", "tw"), 0);
	/* A new watch fires once at once, with the path as given. */
	want_event("initial event", "tw", "data/w");
	end();

	begin("xenstore.watch_fires");
	want_xs("write", xs_write_str(0, "data/w/x", "1"), 0);
	want_event("event for the write", "tw", "data/w/x");
	end();

	begin("xenstore.watch_absolute");
	snprintk(abs_path, sizeof(abs_path), "%s/data/w2", domain_path);
	want_xs("watch", xs_watch(abs_path, "ta"), 0);
	want_event("initial event", "ta", abs_path);
	want_xs("write", xs_write_str(0, "data/w2", "v"), 0);
	want_event("event for the write", "ta", abs_path);
	end();

	check_rc("xenstore.watch_duplicate", xs_watch("data/w", "tw"), -EEXIST);

	begin("xenstore.unwatch");
	drain_events();
	want_xs("unwatch", xs_unwatch("data/w", "tw"), 0);
	want_xs("write", xs_write_str(0, "data/w/y", "2"), 0);
	rc = wait_event("tw", &ev, QUIET_NS);
	if (!check_failed && rc == 0)
		failf("event (%s, %s) after the unwatch", ev.path, ev.token);
	end();

	check_rc("xenstore.unwatch_unknown", xs_unwatch("data/w", "tw"), -ENOENT);
	xs_unwatch(abs_path, "ta");
	drain_events();
}

/* ---- Transactions ---------------------------------------------------------------- */

static void check_transactions(void)
{
	uint32_t tx = 0, tx2 = 0;

	begin("xenstore.tx_commit");
	want_xs("start", xs_transaction_start(&tx), 0);
	want("id not 0", check_failed || tx != 0);
	want_xs("write inside", xs_write_str(tx, "data/tx/a", "1"), 0);
	want_xs("read outside before the commit",
		xs_read(0, "data/tx/a", buf, sizeof(buf)), -ENOENT);
	want_value("read inside", tx, "data/tx/a", "1");
	want_xs("commit", xs_transaction_end(tx, 1), 0);
	want_value("read after the commit", 0, "data/tx/a", "1");
	end();

	check_rc("xenstore.tx_end_twice", xs_transaction_end(tx, 1), -ENOENT);
	check_rc("xenstore.tx_unknown",
		 xs_read(NO_SUCH_TX, "data/tx/a", buf, sizeof(buf)), -ENOENT);

	begin("xenstore.tx_abort");
	want_xs("start", xs_transaction_start(&tx), 0);
	want_xs("write inside", xs_write_str(tx, "data/tx/b", "2"), 0);
	want_xs("abort", xs_transaction_end(tx, 0), 0);
	want_xs("read after the abort", xs_read(0, "data/tx/b", buf, sizeof(buf)), -ENOENT);
	end();

	begin("xenstore.tx_conflict");
	want_xs("write outside", xs_write_str(0, "data/c", "0"), 0);
	want_xs("start", xs_transaction_start(&tx), 0);
	want_value("read inside", tx, "data/c", "0");
	want_xs("write outside", xs_write_str(0, "data/c", "1"), 0);
	want_xs("write inside", xs_write_str(tx, "data/c", "2"), 0);
	want_xs("commit", xs_transaction_end(tx, 1), -EAGAIN);
	want_value("the outside write stays", 0, "data/c", "1");
	end();

	begin("xenstore.tx_retry");
	want_xs("start", xs_transaction_start(&tx2), 0);
	want_value("read inside", tx2, "data/c", "1");
	want_xs("write inside", xs_write_str(tx2, "data/c", "2"), 0);
	want_xs("commit", xs_transaction_end(tx2, 1), 0);
	want_value("read after the commit", 0, "data/c", "2");
	end();
}

/* ---- Raw requests ---------------------------------------------------------------- */

static void check_raw(void)
{
	uint32_t type = 0;
	long rc;

	begin("xenstore.raw_unknown_type");
	rc = xs_request(0xbeef, 0, "x", 2, buf, sizeof(buf), &type);
	want_rc("reply type", type, XS_ERROR);
	/* oxenstored (and Xenolith) answer EINVAL, C xenstored ENOSYS. */
	if (!check_failed && rc != -EINVAL && rc != -ENOSYS)
		failf("error %ld \"%s\", want EINVAL or ENOSYS", rc, xs_error_name());
	end();
	printk("xenstore: unknown type -> %s\n", xs_error_name());

	begin("xenstore.raw_no_nul");
	type = 0;
	rc = xs_request(XS_READ, 0, "domid", 5, buf, sizeof(buf), &type);
	want_rc("reply type", type, XS_ERROR);
	want_xs("error", rc, -EINVAL);
	end();

	begin("xenstore.raw_after_errors");
	type = 0;
	rc = xs_request(XS_READ, 0, "domid", 6, buf, sizeof(buf), &type);
	want_rc("reply type", type, XS_READ);
	want_xs("length", rc, (long)strlen(domid_str));
	want("value", check_failed || !strcmp(buf, domid_str));
	end();

	begin("xenstore.client_counters");
	want_rc("stray replies", (long)xs_stray_replies, 0);
	want_rc("dropped watch events", (long)xs_watch_dropped, 0);
	end();
}

/* ---- test=bench ------------------------------------------------------------------ */

static void bench(unsigned long count)
{
	uint64_t t0, t1;
	unsigned long i;
	long rc = 0;

	t0 = rdtsc();
	for (i = 0; i < count; i++) {
		rc = xs_read(0, "domid", buf, sizeof(buf));
		if (rc < 0)
			break;
	}
	t1 = rdtsc();
	begin("xenstore.bench_read");
	if (rc < 0)
		failf("read %lu: %ld", i, rc);
	end();
	if (rc >= 0)
		printk("xenstore: read %lu ops %lu ticks\n", count, t1 - t0);

	t0 = rdtsc();
	for (i = 0; i < count; i++) {
		rc = xs_write(0, "data/bench", "0123456789", 10);
		if (rc < 0)
			break;
	}
	t1 = rdtsc();
	begin("xenstore.bench_write");
	if (rc < 0)
		failf("write %lu: %ld", i, rc);
	end();
	if (rc >= 0)
		printk("xenstore: write %lu ops %lu ticks\n", count, t1 - t0);
}

int guest_main(struct start_info *si)
{
	char arg[24];
	unsigned long count = DEFAULT_BENCH_COUNT;
	const char *step = NULL;
	int is_bench = 0;
	long rc;

	begin("xenstore.init");
	mm_init(si);
	rc = events_init(si);
	want_rc("events_init", rc, 0);
	if (!rc) {
		/* Only the timeouts' single-shot timer, not the 100 Hz tick. */
		HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL);
		rc = xs_init(si, &step);
		if (rc)
			failf("xs_init: %s: %ld", step, rc);
	}
	if (cmdline_get(si->cmd_line, "test", arg, sizeof(arg)) >= 0) {
		if (!strcmp(arg, "bench"))
			is_bench = 1;
		else if (strcmp(arg, "ops"))
			fail("test= is not ops or bench");
	}
	if (cmdline_get(si->cmd_line, "count", arg, sizeof(arg)) >= 0 &&
	    (parse_ulong(arg, &count) || count == 0))
		fail("bad count=");
	end();
	events_unmask();
	if (check_failed) {
		summary();
		return 0;
	}

	if (is_bench) {
		bench(count);
		summary();
		return 0;
	}
	if (check_identity(si) == 0) {
		check_nodes();
		check_perms();
		check_errors();
		check_watches();
		check_transactions();
		check_raw();
	}
	summary();
	return 0;
}
