/* Grant tables between two domains, from the inside; xenstore carries the
 * grant references and the hand-shake.
 *
 *   role=granter peer=<domid>
 *       Grants the peer page A writable and page B read-only (and page C to
 *       Domain0, so that the peer has a grant of someone else's to try),
 *       publishes them as data/grant/{rw,ro,other} (decimal refs, readable
 *       by the peer: "n<self>" "r<peer>", written in one transaction) and
 *       watches /local/domain/<peer>/data/grant-state:
 *         "mapped"   -> A must show GTF_reading|GTF_writing, B GTF_reading,
 *                       revoking A must fail; then writes data/grant/checked;
 *         "unmapped" -> the flags must be clear again, A must hold what the
 *                       peer wrote (by mapping and by copy), B unchanged;
 *                       revokes A, B and C; done.
 *         "failed"   -> the peer gave up; done.
 *       When done, writes data/grant/finished (also in bench mode).
 *   role=mapper peer=<domid> [maxmaps=<n>]
 *       Waits for the granter's refs, then checks GNTTABOP_* from the
 *       grantee's side: versions and sizes, every refusal of map_grant_ref
 *       Xen makes (bad flags, ref, domain; not granted, granted to another,
 *       read-only grant mapped writable), unmap of a bad handle, copies both
 *       ways and their refusals; with maxmaps=<n> (the maptrack limit the
 *       host set for the domain) that exactly n maps succeed before
 *       GNTST_no_device_space.  Then maps A and B, writes data/grant-state
 *       "mapped", waits for the granter's data/grant/checked, unmaps, and
 *       writes "unmapped"; then waits for data/grant/finished (or for the
 *       granter to be gone) before powering off, because a dead domain's
 *       nodes are removed and its last state would vanish unread.
 *   role=granter bench=1 peer=<domid>
 *       Grants 32 pages read-only, publishes data/grant/bench = "<ref0>
 *       <ref1> ... <ref31>", waits for the peer's grant-state "done".
 *   role=bench peer=<domid> [count=<N> (1000)] [batch=<B> (1, at most 64)]
 *       N GNTTABOP_copy ops of 4096 bytes from the peer's bench grants into
 *       local pages, B per hypercall, then N local memcpys of 4096 bytes:
 *           grant: copy <N> ops <ticks> ticks
 *           grant: memcpy <N> ops <ticks> ticks
 *       and writes data/grant-state "done", then waits as the mapper does.
 *
 * Each side's own data/grant-state (mapper, bench) is created at once as
 * "waiting" with "n<self>" "r<peer>", so that the granter may read and
 * watch it.  Each check prints "ok <name>" or "FAIL <name>: <detail>"; the
 * last line is "grant: <n> failures".  The domain always powers off. */
#include "check.h"
#include "console.h"
#include "events.h"
#include "gnttab.h"
#include "lib.h"
#include "mm.h"
#include "pv.h"
#include "time.h"
#include "xenstore.h"

#define NO_SUCH_DOMAIN          0x7ef0
#define REF_BEYOND_ANY_TABLE    (1U << 20)
#define REF_NEVER_GRANTED       500     /* below 512: inside a 1-frame table */
#define BAD_HANDLE              0x7fffffffU
#define WAIT_PEER_NS            (60 * NSEC_PER_SEC)
#define WAIT_BENCH_NS           (600 * NSEC_PER_SEC)
#define POLL_NS                 (250 * NSEC_PER_MSEC)

#define BENCH_PAGES             32
#define MAX_BATCH               64
#define DEFAULT_COUNT           1000
/* Xen refuses a 129th mapping of one grant of one kind (8-bit pin counts):
 * the exhaustion test spreads its maps over A rw, A ro and B ro. */
#define MAX_MAXMAPS             300

/* Map-area slots (gnttab_slot_va): 0..MAX_MAXMAPS for the exhaustion. */
#define SLOT_PROBE              400     /* maps that must fail */
#define SLOT_A                  401
#define SLOT_B                  402

#define COPY_OFFSET             1024    /* where the copy into A lands */
#define COPY_LEN                256
#define MARKER                  "mapper was here"

static domid_t self, peer;
static char peer_grant_dir[48];         /* /local/domain/<peer>/data/grant */
/* Granter: its grants of A (rw), B (ro), C (to Domain0); mapper: the same
 * refs as read from the granter's data/grant. */
static long ref_a, ref_b, ref_c;
static char buf[256];
static char path[96];

static void summary(void)
{
	printk("grant: %d failures\n", failures);
}

static uint8_t pattern_a(unsigned int i) { return (uint8_t)(i * 7 + 0x11); }
static uint8_t pattern_b(unsigned int i) { return (uint8_t)(i * 13 + 0x5a); }
static uint8_t pattern_copy(unsigned int i) { return (uint8_t)(0xa5 ^ i); }
static uint8_t pattern_bench(unsigned int page, unsigned int i) { return (uint8_t)(i + page * 3); }

/* What page A holds once the mapper is done with it. */
static uint8_t expect_a(unsigned int i, int with_marker)
{
	if (with_marker && i < sizeof(MARKER) - 1)
		return (uint8_t)MARKER[i];
	if (i >= COPY_OFFSET && i < COPY_OFFSET + COPY_LEN)
		return pattern_copy(i - COPY_OFFSET);
	return pattern_a(i);
}

/* "key=<decimal>": 0 if present and valid, 1 if absent, -1 if not a number. */
static int arg_ulong(const char *cmdline, const char *key, unsigned long *out)
{
	char a[24];

	if (cmdline_get(cmdline, key, a, sizeof(a)) < 0)
		return 1;
	return parse_ulong(a, out) ? -1 : 0;
}

/* A fresh page of the bootstrap mapping: its VA and machine frame. */
static uint8_t *alloc_page(unsigned long *mfn)
{
	unsigned long pfn = mm_alloc_mapped();

	*mfn = MM_INVALID;
	if (pfn == MM_INVALID)
		return NULL;
	*mfn = pfn_to_mfn(pfn);
	return pfn_to_virt(pfn);
}

/* The first index where page differs from want(i), or -1. */
static long first_diff(const volatile uint8_t *page, uint8_t (*want)(unsigned int))
{
	unsigned int i;

	for (i = 0; i < PAGE_SIZE; i++)
		if (page[i] != want(i))
			return i;
	return -1;
}

/* ---- xenstore helpers ------------------------------------------------------------ */

/* Reads path until it holds a value accepted by ok (NULL: any), waiting
 * for watch events (or polling) up to timeout.  Returns the value's length
 * or the last read's error (-ETIME if it was readable but never right). */
static long wait_node(const char *p, char *out, size_t size,
		      int (*ok)(const char *value), uint64_t timeout)
{
	uint64_t deadline = time_now() + timeout;
	struct xs_watch_event ev;
	long rc;

	for (;;) {
		rc = xs_read(0, p, out, size);
		if (rc >= 0 && (!ok || ok(out)))
			return rc;
		if (time_now() >= deadline)
			return rc < 0 ? rc : -ETIME;
		/* Events only wake us up: whatever fired, read again. */
		xs_read_watch(&ev, POLL_NS);
	}
}

/* data/grant-state readable by the peer, starting as "waiting". */
static long create_state_node(void)
{
	char owner[8], reader[8];
	const char *perms[2] = { owner, reader };
	long rc;

	snprintk(owner, sizeof(owner), "n%u", self);
	snprintk(reader, sizeof(reader), "r%u", peer);
	rc = xs_write_str(0, "data/grant-state", "waiting");
	return rc ? rc : xs_set_perms(0, "data/grant-state", perms, 2);
}

static void set_state(const char *state)
{
	long rc = xs_write_str(0, "data/grant-state", state);

	if (rc)
		printk("FAIL grant.set_state: write \"%s\": %ld\n", state, rc);
}

/* After its last state, a mapper must not power off before the granter has
 * read it: the toolstack removes a dead domain's nodes, so the state would
 * vanish unread.  Waits until the granter says it is finished, or is gone. */
static void wait_granter_finished(void)
{
	uint64_t deadline = time_now() + WAIT_PEER_NS;
	struct xs_watch_event ev;
	char path[64], value[8];

	snprintk(path, sizeof(path), "%s/finished", peer_grant_dir);
	while (time_now() < deadline) {
		if (xs_read(0, path, value, sizeof(value)) >= 0)
			return;
		/* Gone: with /local/domain/<peer> removed, xenstored answers
		 * EACCES (the nearest ancestor is unreadable), not ENOENT. */
		if (xs_read(0, peer_grant_dir, value, sizeof(value)) < 0)
			return;
		xs_read_watch(&ev, POLL_NS);
	}
}

/* The granter's half of that handshake. */
static void say_finished(void)
{
	check_rc("grant.finished", xs_write_str(0, "data/grant/finished", "1"), 0);
}

/* data/grant and the given children (name, decimal value), all "n<self>"
 * "r<peer>", in one transaction (retried on EAGAIN). */
static long publish(const char *const *names, const char *const *values, unsigned int n)
{
	char owner[8], reader[8];
	const char *perms[2] = { owner, reader };
	unsigned int attempt, i;
	long rc = 0;

	snprintk(owner, sizeof(owner), "n%u", self);
	snprintk(reader, sizeof(reader), "r%u", peer);
	for (attempt = 0; attempt < 5; attempt++) {
		uint32_t tx;

		rc = xs_transaction_start(&tx);
		if (rc)
			return rc;
		rc = xs_mkdir(tx, "data/grant");
		if (!rc)
			rc = xs_set_perms(tx, "data/grant", perms, 2);
		for (i = 0; !rc && i < n; i++) {
			snprintk(path, sizeof(path), "data/grant/%s", names[i]);
			rc = xs_write_str(tx, path, values[i]);
			if (!rc)
				rc = xs_set_perms(tx, path, perms, 2);
		}
		if (rc) {
			xs_transaction_end(tx, 0);
			return rc;
		}
		rc = xs_transaction_end(tx, 1);
		if (rc != -EAGAIN)
			return rc;
	}
	return rc;
}

/* ---- Granter --------------------------------------------------------------------- */

/* The peer states each wait is for ("failed" ends every wait). */
static int state_mapped(const char *v)
{
	return !strcmp(v, "mapped") || !strcmp(v, "failed");
}

static int state_unmapped(const char *v)
{
	return !strcmp(v, "unmapped") || !strcmp(v, "failed");
}

static int state_done(const char *v)
{
	return !strcmp(v, "done") || !strcmp(v, "failed");
}

static void run_granter(void)
{
	unsigned long mfn_a = 0, mfn_b = 0, mfn_c = 0;
	uint8_t *a, *b, *c;
	long rc;
	char val_a[12], val_b[12], val_c[12], state_path[64];
	const char *names[3] = { "rw", "ro", "other" };
	const char *values[3] = { val_a, val_b, val_c };
	unsigned int i;
	int phase = 0;
	uint64_t deadline;

	begin("grant.grant_access");
	a = alloc_page(&mfn_a);
	b = alloc_page(&mfn_b);
	c = alloc_page(&mfn_c);
	if (!a || !b || !c) {
		fail("no free pages");
		end();
		return;
	}
	for (i = 0; i < PAGE_SIZE; i++) {
		a[i] = pattern_a(i);
		b[i] = pattern_b(i);
		c[i] = 0;
	}
	ref_a = gnttab_grant_access(peer, mfn_a, 0);
	ref_b = gnttab_grant_access(peer, mfn_b, 1);
	ref_c = gnttab_grant_access(0, mfn_c, 0);
	want_rc("first free ref (0..7 are the toolstack's)", ref_a, GNTTAB_NR_RESERVED_ENTRIES);
	want("refs", ref_b > 0 && ref_c > 0);
	if (!check_failed) {
		want_hex("flags of A", gnttab_entry_flags(ref_a), GTF_permit_access);
		want_hex("flags of B", gnttab_entry_flags(ref_b), GTF_permit_access | GTF_readonly);
		want_hex("frame of A", gnttab_table[ref_a].frame, mfn_a);
		want_rc("domid of A", gnttab_table[ref_a].domid, peer);
	}
	end();
	if (check_failed)
		return;

	begin("grant.publish");
	snprintk(val_a, sizeof(val_a), "%ld", ref_a);
	snprintk(val_b, sizeof(val_b), "%ld", ref_b);
	snprintk(val_c, sizeof(val_c), "%ld", ref_c);
	rc = publish(names, values, 3);
	want_rc("transaction", rc, 0);
	snprintk(state_path, sizeof(state_path), "/local/domain/%u/data/grant-state", peer);
	want_rc("watch the peer's state", xs_watch(state_path, "state"), 0);
	end();
	if (check_failed)
		return;
	printk("grant: granted rw %ld ro %ld other %ld\n", ref_a, ref_b, ref_c);

	deadline = time_now() + WAIT_PEER_NS;
	while (phase < 2) {
		uint64_t now = time_now();

		rc = now < deadline ? wait_node(state_path, buf, sizeof(buf),
						phase ? state_unmapped : state_mapped,
						deadline - now) : -ETIME;
		if (rc < 0) {
			begin("grant.peer_state");
			failf("no %s state from the peer: %ld", phase ? "unmapped" : "mapped", rc);
			end();
			break;
		}
		if (!strcmp(buf, "failed")) {
			begin("grant.peer_state");
			fail("the mapper gave up");
			end();
			break;
		}
		if (phase == 0 && !strcmp(buf, "mapped")) {
			begin("grant.flags_while_mapped");
			want_hex("flags of A", gnttab_entry_flags(ref_a),
				 GTF_permit_access | GTF_reading | GTF_writing);
			want_hex("flags of B", gnttab_entry_flags(ref_b),
				 GTF_permit_access | GTF_readonly | GTF_reading);
			want_hex("flags of other", gnttab_entry_flags(ref_c), GTF_permit_access);
			end();

			begin("grant.end_access_while_mapped");
			want_rc("end_access(A)", gnttab_end_access(ref_a), -EBUSY);
			want_hex("flags of A kept", gnttab_entry_flags(ref_a),
				 GTF_permit_access | GTF_reading | GTF_writing);
			end();

			check_rc("grant.write_checked", xs_write_str(0, "data/grant/checked", "1"), 0);
			phase = 1;
		} else if (phase == 1 && !strcmp(buf, "unmapped")) {
			const volatile uint8_t *va = a;
			long at;

			begin("grant.flags_after_unmap");
			want_hex("flags of A", gnttab_entry_flags(ref_a), GTF_permit_access);
			want_hex("flags of B", gnttab_entry_flags(ref_b),
				 GTF_permit_access | GTF_readonly);
			end();

			begin("grant.peer_writes_landed");
			for (at = 0; at < (long)PAGE_SIZE; at++)
				if (va[at] != expect_a((unsigned int)at, 1))
					break;
			if (at < (long)PAGE_SIZE)
				failf("A[%ld] = 0x%x, want 0x%x (marker at 0, copy at %u)", at,
				      va[at], expect_a((unsigned int)at, 1), COPY_OFFSET);
			at = first_diff(b, pattern_b);
			if (at >= 0)
				failf("read-only B changed at %ld", at);
			end();

			begin("grant.end_access");
			want_rc("end_access(A)", gnttab_end_access(ref_a), 0);
			want_rc("end_access(B)", gnttab_end_access(ref_b), 0);
			want_rc("end_access(other)", gnttab_end_access(ref_c), 0);
			want_hex("flags of A", gnttab_entry_flags(ref_a), 0);
			want_rc("end_access(A) again", gnttab_end_access(ref_a), -EINVAL);
			end();
			phase = 2;
		}
	}
	say_finished();
}

static void run_granter_bench(void)
{
	static char list[BENCH_PAGES * 11 + 1];
	long refs[BENCH_PAGES];
	const char *names[1] = { "bench" };
	const char *values[1] = { list };
	char state_path[64];
	size_t len = 0;
	unsigned int k, i;
	long rc;

	begin("grant.bench_grant");
	for (k = 0; k < BENCH_PAGES && !check_failed; k++) {
		unsigned long mfn;
		uint8_t *page = alloc_page(&mfn);

		if (!page) {
			fail("no free pages");
			break;
		}
		for (i = 0; i < PAGE_SIZE; i++)
			page[i] = pattern_bench(k, i);
		refs[k] = gnttab_grant_access(peer, mfn, 1);
		if (refs[k] < 0)
			failf("grant %u: %ld", k, refs[k]);
		else
			len += snprintk(list + len, sizeof(list) - len, k ? " %ld" : "%ld", refs[k]);
	}
	if (!check_failed)
		want_rc("publish", publish(names, values, 1), 0);
	snprintk(state_path, sizeof(state_path), "/local/domain/%u/data/grant-state", peer);
	if (!check_failed)
		want_rc("watch the peer's state", xs_watch(state_path, "state"), 0);
	end();
	if (check_failed)
		return;

	begin("grant.bench_done");
	rc = wait_node(state_path, buf, sizeof(buf), state_done, WAIT_BENCH_NS);
	if (rc < 0)
		failf("no done state from the peer: %ld", rc);
	else if (strcmp(buf, "done"))
		failf("peer state \"%s\", want \"done\"", buf);
	for (k = 0; k < BENCH_PAGES; k++)
		want_rc("end_access", gnttab_end_access((grant_ref_t)refs[k]), 0);
	end();
	say_finished();
}

/* ---- Mapper ---------------------------------------------------------------------- */

static uint8_t *local, *local2;
static unsigned long local_mfn, local2_mfn;
static grant_handle_t handles[MAX_MAXMAPS + 1];

static int is_number(const char *v)
{
	unsigned long x;

	return parse_ulong(v, &x) == 0;
}

/* The granter's data/grant/<name> as a ref. */
static long peer_ref(const char *name, uint64_t timeout)
{
	unsigned long v;
	long rc;

	snprintk(path, sizeof(path), "%s/%s", peer_grant_dir, name);
	rc = wait_node(path, buf, sizeof(buf), is_number, timeout);
	if (rc < 0)
		return rc;
	parse_ulong(buf, &v);
	return (long)v;
}

/* A map that must be refused with status want, leaving no mapping. */
static void check_map_refused(const char *name, domid_t dom, grant_ref_t ref,
			      uint32_t flags, int want)
{
	unsigned long va = gnttab_slot_va(SLOT_PROBE);
	grant_handle_t h = 0;
	int st;

	begin(name);
	st = gnttab_map(dom, ref, va, flags, &h, NULL);
	want_rc("hypercall", gnttab_last_rc, 0);
	want_rc("status", st, want);
	want_hex("PTE at host_addr", *gnttab_area_pte(va), 0);
	if (st == GNTST_okay)
		gnttab_unmap(va, h);
	end();
}

static void copy_op(struct gnttab_copy *op, int src_is_ref, unsigned long src,
		    domid_t src_dom, uint16_t src_off, int dst_is_ref, unsigned long dst,
		    domid_t dst_dom, uint16_t dst_off, uint16_t len)
{
	memset(op, 0, sizeof(*op));
	if (src_is_ref)
		op->source.u.ref = (grant_ref_t)src;
	else
		op->source.u.gmfn = src;
	op->source.domid = src_dom;
	op->source.offset = src_off;
	if (dst_is_ref)
		op->dest.u.ref = (grant_ref_t)dst;
	else
		op->dest.u.gmfn = dst;
	op->dest.domid = dst_dom;
	op->dest.offset = dst_off;
	op->len = len;
	op->flags = (uint16_t)((src_is_ref ? GNTCOPY_source_gref : 0) |
			       (dst_is_ref ? GNTCOPY_dest_gref : 0));
	op->status = 1;         /* not a GNTST_*: shows an untouched op */
}

/* One copy op that must end with status want. */
static void check_copy(const char *name, struct gnttab_copy *op, int want)
{
	begin(name);
	want_rc("hypercall", gnttab_copy(op, 1), 0);
	want_rc("status", op->status, want);
	end();
}

static void check_versions(void)
{
	uint32_t nr = 0, max = 0, v = 1;
	int st;

	begin("grant.version");
	want_rc("get_version(DOMID_SELF)", gnttab_get_version(DOMID_SELF), 1);
	want_rc("set_version(1)", gnttab_set_version(&v), 0);
	want_rc("version in effect", v, 1);
	end();

	begin("grant.query_size");
	st = gnttab_query_size(DOMID_SELF, &nr, &max);
	want_rc("hypercall", gnttab_last_rc, 0);
	want_rc("status", st, GNTST_okay);
	want("nr_frames >= 1", check_failed || nr >= 1);
	want("max_nr_frames >= nr_frames", check_failed || max >= nr);
	end();
	printk("grant: table %u of %u frames\n", nr, max);

	/* Only a privileged domain may ask about another (XSM_TARGET). */
	begin("grant.query_size_other");
	st = gnttab_query_size(peer, NULL, NULL);
	want_rc("hypercall", gnttab_last_rc, 0);
	want_rc("status", st, GNTST_permission_denied);
	end();
}

static void check_map_refusals(void)
{
	/* Neither host nor device map asked for: Xen says bad_gntref. */
	check_map_refused("grant.map_no_flags", peer, (grant_ref_t)ref_a, 0, GNTST_bad_gntref);
	check_map_refused("grant.map_bad_ref", peer, REF_BEYOND_ANY_TABLE,
			  GNTMAP_host_map, GNTST_bad_gntref);
	check_map_refused("grant.map_bad_domain", NO_SUCH_DOMAIN, (grant_ref_t)ref_a,
			  GNTMAP_host_map, GNTST_bad_domain);
	/* map_grant_ref looks dom up by id: DOMID_SELF names no domain. */
	check_map_refused("grant.map_domid_self", DOMID_SELF, (grant_ref_t)ref_a,
			  GNTMAP_host_map, GNTST_bad_domain);
	/* The rest pass the lookups and fail on the entry (_set_status):
	 * Xen's answer is GNTST_general_error for all of them. */
	check_map_refused("grant.map_own_table", self, GNTTAB_NR_RESERVED_ENTRIES,
			  GNTMAP_host_map, GNTST_general_error);
	check_map_refused("grant.map_not_granted", peer, REF_NEVER_GRANTED,
			  GNTMAP_host_map, GNTST_general_error);
	check_map_refused("grant.map_granted_to_another", peer, (grant_ref_t)ref_c,
			  GNTMAP_host_map, GNTST_general_error);
	check_map_refused("grant.map_readonly_grant_writable", peer, (grant_ref_t)ref_b,
			  GNTMAP_host_map, GNTST_general_error);

	begin("grant.unmap_bad_handle");
	want_rc("status", gnttab_unmap(gnttab_slot_va(SLOT_PROBE), BAD_HANDLE), GNTST_bad_handle);
	want_rc("hypercall", gnttab_last_rc, 0);
	end();
}

static void check_copies(void)
{
	struct gnttab_copy ops[2];
	long at;
	unsigned int i;

	begin("grant.copy_from_gref");
	memset(local, 0, PAGE_SIZE);
	copy_op(&ops[0], 1, (unsigned long)ref_a, peer, 0, 0, local_mfn, DOMID_SELF, 0, PAGE_SIZE);
	want_rc("hypercall", gnttab_copy(ops, 1), 0);
	want_rc("status", ops[0].status, GNTST_okay);
	at = first_diff(local, pattern_a);
	if (!check_failed && at >= 0)
		failf("byte %ld: 0x%x, want 0x%x", at, local[at], pattern_a((unsigned int)at));
	end();

	begin("grant.copy_from_readonly_gref");
	memset(local, 0, PAGE_SIZE);
	copy_op(&ops[0], 1, (unsigned long)ref_b, peer, 0, 0, local_mfn, DOMID_SELF, 0, PAGE_SIZE);
	want_rc("hypercall", gnttab_copy(ops, 1), 0);
	want_rc("status", ops[0].status, GNTST_okay);
	at = first_diff(local, pattern_b);
	if (!check_failed && at >= 0)
		failf("byte %ld: 0x%x, want 0x%x", at, local[at], pattern_b((unsigned int)at));
	end();

	/* Into A at COPY_OFFSET: the granter checks it later, and the
	 * mapping of A below must show it too. */
	for (i = 0; i < COPY_LEN; i++)
		local2[i] = pattern_copy(i);
	copy_op(&ops[0], 0, local2_mfn, DOMID_SELF, 0, 1, (unsigned long)ref_a, peer,
		COPY_OFFSET, COPY_LEN);
	check_copy("grant.copy_to_gref", &ops[0], GNTST_okay);

	copy_op(&ops[0], 0, local2_mfn, DOMID_SELF, 0, 1, (unsigned long)ref_b, peer, 0, 16);
	check_copy("grant.copy_to_readonly_gref", &ops[0], GNTST_general_error);

	copy_op(&ops[0], 1, REF_BEYOND_ANY_TABLE, peer, 0, 0, local_mfn, DOMID_SELF, 0, 16);
	check_copy("grant.copy_bad_ref", &ops[0], GNTST_bad_gntref);

	copy_op(&ops[0], 1, (unsigned long)ref_a, peer, 4000, 0, local_mfn, DOMID_SELF, 0, 200);
	check_copy("grant.copy_source_beyond_page", &ops[0], GNTST_bad_copy_arg);

	copy_op(&ops[0], 1, (unsigned long)ref_a, peer, 0, 0, local_mfn, DOMID_SELF, 3900, 300);
	check_copy("grant.copy_dest_beyond_page", &ops[0], GNTST_bad_copy_arg);

	/* A frame may only be named by its owner, as DOMID_SELF. */
	copy_op(&ops[0], 0, local2_mfn, peer, 0, 0, local_mfn, DOMID_SELF, 0, 16);
	check_copy("grant.copy_gmfn_not_self", &ops[0], GNTST_permission_denied);

	begin("grant.copy_batch");
	copy_op(&ops[0], 1, (unsigned long)ref_b, peer, 0, 0, local_mfn, DOMID_SELF, 0, 64);
	copy_op(&ops[1], 1, REF_BEYOND_ANY_TABLE, peer, 0, 0, local_mfn, DOMID_SELF, 0, 64);
	want_rc("hypercall", gnttab_copy(ops, 2), 0);
	want_rc("status of the good op", ops[0].status, GNTST_okay);
	want_rc("status of the bad op", ops[1].status, GNTST_bad_gntref);
	end();
}

static void check_maptrack(unsigned long maxmaps)
{
	unsigned long i, n_ok = 0;
	int st = GNTST_okay;

	begin("grant.maptrack_exhaust");
	if (maxmaps > MAX_MAXMAPS) {
		failf("maxmaps=%lu: this test goes up to %u", maxmaps, MAX_MAXMAPS);
		end();
		return;
	}
	for (i = 0; i <= maxmaps; i++) {
		/* Three kinds of mapping in turn: each has its own pin count. */
		grant_ref_t ref = (grant_ref_t)(i % 3 == 2 ? ref_b : ref_a);
		uint32_t flags = GNTMAP_host_map | (i % 3 ? GNTMAP_readonly : 0);

		st = gnttab_map(peer, ref, gnttab_slot_va((unsigned int)i), flags,
				&handles[i], NULL);
		if (st != GNTST_okay)
			break;
		n_ok++;
	}
	want_rc("hypercall", gnttab_last_rc, 0);
	want_rc("maps before the refusal", (long)n_ok, (long)maxmaps);
	want_rc("status of the refused map", st, GNTST_no_device_space);
	for (i = 0; i < n_ok; i++) {
		int ust = gnttab_unmap(gnttab_slot_va((unsigned int)i), handles[i]);

		if (ust != GNTST_okay && !check_failed)
			failf("unmap %lu (handle %u): %d", i, handles[i], ust);
	}
	end();
}

static void run_mapper(unsigned long maxmaps, int have_maxmaps)
{
	unsigned long va_a = gnttab_slot_va(SLOT_A), va_b = gnttab_slot_va(SLOT_B);
	grant_handle_t h_a = ~0U, h_b = ~0U;
	volatile uint8_t *ma = (volatile uint8_t *)va_a, *mb = (volatile uint8_t *)va_b;
	uint64_t pte, old;
	long at;
	int st;

	begin("grant.peer_refs");
	ref_a = peer_ref("rw", WAIT_PEER_NS);
	ref_b = ref_a < 0 ? ref_a : peer_ref("ro", WAIT_PEER_NS);
	ref_c = ref_b < 0 ? ref_b : peer_ref("other", WAIT_PEER_NS);
	if (ref_c < 0)
		failf("the granter's refs under %s: %ld", peer_grant_dir, ref_c);
	local = alloc_page(&local_mfn);
	local2 = alloc_page(&local2_mfn);
	want("free pages", local && local2);
	end();
	if (check_failed) {
		set_state("failed");
		return;
	}
	printk("grant: peer refs rw %ld ro %ld other %ld\n", ref_a, ref_b, ref_c);

	check_versions();
	check_map_refusals();
	check_copies();
	if (have_maxmaps)
		check_maptrack(maxmaps);
	else
		printk("grant: maptrack test skipped (no maxmaps=)\n");

	begin("grant.map_rw");
	st = gnttab_map(peer, (grant_ref_t)ref_a, va_a, GNTMAP_host_map, &h_a, NULL);
	want_rc("hypercall", gnttab_last_rc, 0);
	want_rc("status", st, GNTST_okay);
	pte = *gnttab_area_pte(va_a);
	want_hex("PTE present and writable", pte & (_PAGE_PRESENT | _PAGE_RW),
		 _PAGE_PRESENT | _PAGE_RW);
	if (!check_failed) {
		for (at = 0; at < (long)PAGE_SIZE; at++)
			if (ma[at] != expect_a((unsigned int)at, 0))
				break;
		if (at < (long)PAGE_SIZE)
			failf("A[%ld] = 0x%x through the mapping, want 0x%x", at, ma[at],
			      expect_a((unsigned int)at, 0));
	}
	if (!check_failed)
		memcpy((void *)va_a, MARKER, sizeof(MARKER) - 1);
	end();

	begin("grant.map_ro");
	st = gnttab_map(peer, (grant_ref_t)ref_b, va_b, GNTMAP_host_map | GNTMAP_readonly,
			&h_b, NULL);
	want_rc("hypercall", gnttab_last_rc, 0);
	want_rc("status", st, GNTST_okay);
	pte = *gnttab_area_pte(va_b);
	want_hex("PTE present, not writable", pte & (_PAGE_PRESENT | _PAGE_RW), _PAGE_PRESENT);
	if (!check_failed) {
		at = first_diff(mb, pattern_b);
		if (at >= 0)
			failf("B[%ld] = 0x%x through the mapping", at, mb[at]);
	}
	/* Writing back what is there: harmless even if it went through. */
	if (!check_failed) {
		old = *(volatile uint64_t *)va_b;
		want("a write faults", mm_probe_write((volatile void *)va_b, old) == 1);
		want_rc("with #PF", (long)mm_last_fault.vector, 14);
	}
	end();

	begin("grant.granter_checked");
	set_state("mapped");
	snprintk(path, sizeof(path), "%s/checked", peer_grant_dir);
	at = wait_node(path, buf, sizeof(buf), NULL, WAIT_PEER_NS);
	if (at < 0)
		failf("%s: %ld", path, at);
	end();

	begin("grant.unmap");
	if (h_a != ~0U)
		want_rc("unmap A", gnttab_unmap(va_a, h_a), GNTST_okay);
	if (h_b != ~0U)
		want_rc("unmap B", gnttab_unmap(va_b, h_b), GNTST_okay);
	want_hex("PTE of A present", *gnttab_area_pte(va_a) & _PAGE_PRESENT, 0);
	want_hex("PTE of B present", *gnttab_area_pte(va_b) & _PAGE_PRESENT, 0);
	want_rc("unmap A again", gnttab_unmap(va_a, h_a), GNTST_bad_handle);
	end();
	set_state("unmapped");
	wait_granter_finished();
}

static void run_bench(unsigned long count, unsigned long batch)
{
	static struct gnttab_copy ops[MAX_BATCH];
	static uint8_t *pages[BENCH_PAGES];
	static unsigned long mfns[BENCH_PAGES];
	static long refs[BENCH_PAGES];
	static char list[BENCH_PAGES * 11 + 1];
	unsigned long done, n, bad = 0, i;
	uint64_t t0, t1;
	const char *p;
	unsigned int k;
	long rc = 0;

	begin("grant.bench_refs");
	snprintk(path, sizeof(path), "%s/bench", peer_grant_dir);
	rc = wait_node(path, list, sizeof(list), NULL, WAIT_PEER_NS);
	if (rc < 0)
		failf("%s: %ld", path, rc);
	p = list;
	for (k = 0; !check_failed && k < BENCH_PAGES; k++) {
		unsigned long v = 0;
		int digits = 0;

		while (*p == ' ')
			p++;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (unsigned long)(*p++ - '0');
			digits++;
		}
		if (!digits)
			failf("%u refs in \"%s\", want %u", k, list, BENCH_PAGES);
		refs[k] = (long)v;
		pages[k] = alloc_page(&mfns[k]);
		if (!pages[k])
			fail("no free pages");
	}
	end();
	if (check_failed) {
		set_state("failed");
		return;
	}

	for (i = 0; i < batch; i++)
		copy_op(&ops[i], 1, 0, peer, 0, 0, 0, DOMID_SELF, 0, PAGE_SIZE);

	/* Op k of the run copies grant k % 32 into page k % 32. */
	begin("grant.bench_copy");
	t0 = rdtsc();
	for (done = 0; done < count; done += n) {
		n = count - done < batch ? count - done : batch;
		for (i = 0; i < n; i++) {
			k = (unsigned int)((done + i) % BENCH_PAGES);
			ops[i].source.u.ref = (grant_ref_t)refs[k];
			ops[i].dest.u.gmfn = mfns[k];
		}
		rc = gnttab_copy(ops, (unsigned int)n);
		if (rc)
			break;
		for (i = 0; i < n; i++)
			bad += ops[i].status != GNTST_okay;
	}
	t1 = rdtsc();
	want_rc("hypercall", rc, 0);
	want_rc("failed ops", (long)bad, 0);
	for (k = 0; !check_failed && k < BENCH_PAGES && k < count; k++)
		for (i = 0; i < PAGE_SIZE; i++)
			if (pages[k][i] != pattern_bench(k, (unsigned int)i)) {
				failf("page %u byte %lu: 0x%x", k, i, pages[k][i]);
				break;
			}
	end();
	if (!rc && !bad)
		printk("grant: copy %lu ops %lu ticks\n", count, t1 - t0);

	t0 = rdtsc();
	for (i = 0; i < count; i++)
		memcpy(pages[i % BENCH_PAGES], pages[(i + 1) % BENCH_PAGES], PAGE_SIZE);
	t1 = rdtsc();
	printk("grant: memcpy %lu ops %lu ticks\n", count, t1 - t0);

	set_state("done");
	wait_granter_finished();
}

/* ---- Start ------------------------------------------------------------------------ */

int guest_main(struct start_info *si)
{
	char role[16];
	unsigned long v, maxmaps = 0, count = DEFAULT_COUNT, batch = 1, is_bench = 0;
	const char *step = NULL;
	int have_maxmaps = 0;
	long rc;

	begin("grant.init");
	mm_init(si);
	rc = mm_traps_init(summary);
	want_rc("mm_traps_init", rc, 0);
	rc = events_init(si);
	want_rc("events_init", rc, 0);
	if (!check_failed) {
		/* Only the timeouts' single-shot timer, not the 100 Hz tick. */
		HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL);
		rc = xs_init(si, &step);
		if (rc)
			failf("xs_init: %s: %ld", step, rc);
	}
	if (!check_failed) {
		rc = gnttab_init(1, &step);
		if (rc)
			failf("gnttab_init: %s: %ld", step, rc);
	}
	if (cmdline_get(si->cmd_line, "role", role, sizeof(role)) < 0)
		fail("no role=granter|mapper|bench");
	else if (strcmp(role, "granter") && strcmp(role, "mapper") && strcmp(role, "bench"))
		fail("role= is not granter, mapper or bench");
	if (arg_ulong(si->cmd_line, "peer", &v) || v == 0 || v >= DOMID_SELF)
		fail("bad or missing peer=");
	peer = (domid_t)v;
	if ((have_maxmaps = arg_ulong(si->cmd_line, "maxmaps", &maxmaps)) < 0)
		fail("bad maxmaps=");
	have_maxmaps = have_maxmaps == 0;
	if (arg_ulong(si->cmd_line, "count", &count) < 0 || count == 0)
		fail("bad count=");
	if (arg_ulong(si->cmd_line, "batch", &batch) < 0 || batch == 0 || batch > MAX_BATCH)
		fail("bad batch= (1..64)");
	if (arg_ulong(si->cmd_line, "bench", &is_bench) < 0)
		fail("bad bench=");
	end();
	events_unmask();
	if (check_failed) {
		summary();
		return 0;
	}

	begin("grant.identity");
	rc = xs_read(0, "domid", buf, sizeof(buf));
	if (rc < 0 || parse_ulong(buf, &v) || v == 0 || v >= DOMID_SELF)
		failf("read domid: %ld \"%s\"", rc, rc < 0 ? xs_error_name() : buf);
	self = (domid_t)v;
	want("peer is another domain", check_failed || self != peer);
	end();
	if (check_failed) {
		summary();
		return 0;
	}
	snprintk(peer_grant_dir, sizeof(peer_grant_dir), "/local/domain/%u/data/grant", peer);

	if (!strcmp(role, "granter")) {
		if (is_bench)
			run_granter_bench();
		else
			run_granter();
	} else {
		begin("grant.state_node");
		want_rc("create data/grant-state", create_state_node(), 0);
		want_rc("watch the granter's data/grant", xs_watch(peer_grant_dir, "grant"), 0);
		end();
		if (!check_failed) {
			if (!strcmp(role, "mapper"))
				run_mapper(maxmaps, have_maxmaps);
			else
				run_bench(count, batch);
		}
	}
	summary();
	return 0;
}
