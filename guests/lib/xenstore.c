/* xenstore client: the store ring as two byte streams (xs_wire.h).
 *
 * Ring protocol, for each direction: the producer writes bytes at
 * MASK(prod), then (write barrier) advances prod; the consumer reads prod,
 * then (read barrier) the bytes, then (full barrier: the reads must be done
 * before the producer may reuse the space) advances cons.  On x86 the
 * processor keeps stores in order and loads in order, and never moves a
 * store before an earlier load, so the first two barriers only have to stop
 * the compiler; the last is a real fence to stay on the safe side.
 *
 * Notifications: one EVTCHNOP_send after each request is written (and
 * before blocking on a full request ring).  Consuming replies notifies only
 * when the ring was full (the daemon may be waiting for space, as Linux's
 * xenbus does it) or before blocking after having consumed (so a daemon
 * that waits for room to write a whole message is never left waiting): in
 * the steady request/reply rhythm that costs no hypercall at all.
 *
 * Everything runs in the caller's context; the store port's upcall handler
 * only counts, and waits look at the ring indices themselves. */
#include "console.h"
#include "errno.h"
#include "events.h"
#include "lib.h"
#include "mm.h"
#include "pvring.h"
#include "time.h"
#include "xenstore.h"

volatile struct xenstore_domain_interface *xs_intf;
evtchn_port_t xs_port;
volatile unsigned long xs_upcalls;
unsigned long xs_watch_dropped;
unsigned long xs_stray_replies;

static uint32_t next_req_id = 1;
static char last_error[16];

/* Outgoing payload being assembled, and the payload of the message being
 * received (+1 for a NUL).  One request at a time, one vCPU. */
static char tx_buf[XENSTORE_PAYLOAD_MAX];
static char rx_buf[XENSTORE_PAYLOAD_MAX + 1];

static struct xs_watch_event watch_queue[XS_WATCH_QUEUE];
static unsigned int watch_head, watch_count;

/* Bytes of the reply ring consumed since the last notification. */
static int consumed_unnotified;

/* A message went half across (a timeout in mid-message): the streams are
 * out of step for good, so every later request fails with -EIO. */
static int desynced;

#define barrier()       asm volatile("" ::: "memory")
#define virt_rmb()      barrier()               /* x86: loads stay in order */
#define virt_wmb()      barrier()               /* x86: stores stay in order */
#define virt_mb()       __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* ---- Errors ------------------------------------------------------------------ */

static const struct {
	const char *name;
	int errnum;
} xs_errors[] = {
	{ "EINVAL", EINVAL }, { "EACCES", EACCES }, { "EEXIST", EEXIST },
	{ "EISDIR", EISDIR }, { "ENOENT", ENOENT }, { "ENOMEM", ENOMEM },
	{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "ENOTEMPTY", ENOTEMPTY },
	{ "ENOSYS", ENOSYS }, { "EROFS", EROFS }, { "EBUSY", EBUSY },
	{ "EAGAIN", EAGAIN }, { "EISCONN", EISCONN }, { "E2BIG", E2BIG },
	{ "EPERM", EPERM },
};

int xs_errno_of(const char *name)
{
	unsigned int i;

	for (i = 0; i < sizeof(xs_errors) / sizeof(xs_errors[0]); i++)
		if (!strcmp(name, xs_errors[i].name))
			return xs_errors[i].errnum;
	return -1;
}

const char *xs_error_name(void)
{
	return last_error;
}

/* ---- Waiting ----------------------------------------------------------------- */

/* A wait blocks in slices ending on a grid of XS_SLICE_NS, so that waits in
 * a row share the single-shot timer's deadline (time_arm skips re-arming
 * it) instead of paying a set_timer_op each; the slices also make a missed
 * notification cost a slice, not the whole timeout. */
#define XS_SLICE_NS     (64 * NSEC_PER_MSEC)

static int req_has_room(void)
{
	return xs_intf->req_prod - xs_intf->req_cons < XENSTORE_RING_SIZE;
}

static int rsp_has_data(void)
{
	return xs_intf->rsp_prod != xs_intf->rsp_cons;
}

/* Before sleeping, a wait spins this long: the daemon answers a few tens of
 * microseconds after the notification, while sleeping costs three more exits
 * (~25 us each here: block, the upcall's return, and the timer when it must be
 * re-armed).  The port is masked while spinning, so the daemon's notification
 * only sets its pending bit instead of interrupting the spin. */
#define XS_SPIN_NS      (250 * NSEC_PER_USEC)

static int xs_spin(int (*cond)(void), uint64_t deadline)
{
	uint64_t until = time_now() + XS_SPIN_NS;
	int met;

	if (until > deadline)
		until = deadline;
	evtchn_mask(xs_port);   /* already, if we just signalled */
	while (!(met = cond()) && time_now() < until)
		__builtin_ia32_pause();
	/* The notification (if any) is stale now: the ring says it all. An
	 * event landing between these two stores stays pending with the port
	 * unmasked; evtchn_unmask delivers it, as a spurious wake-up. */
	evtchn_clear_pending(xs_port);
	evtchn_clear_mask(xs_port);
	if (evtchn_is_pending(xs_port))
		evtchn_unmask(xs_port);
	return met;
}

/* 1 once cond() holds, 0 when the deadline (system time) passes first. */
static int xs_wait(int (*cond)(void), uint64_t deadline)
{
	if (xs_spin(cond, deadline))
		return 1;
	for (;;) {
		uint64_t now = time_now(), slice;

		if (cond())
			return 1;
		if (now >= deadline)
			return 0;
		slice = (now + 2 * XS_SLICE_NS) / XS_SLICE_NS * XS_SLICE_NS;
		if (slice > deadline)
			slice = deadline;
		if (TIME_WAIT_UNTIL(cond(), slice))
			return 1;
	}
}

static void xs_notify(void)
{
	consumed_unnotified = 0;
	/* The answer to what we signal is awaited by xs_wait, which reads the
	 * ring and unmasks the port before it sleeps.  Masked from here on,
	 * a reply that beats us back from this hypercall only sets the
	 * pending bit: unmasked, it would interrupt us for an upcall and its
	 * return, two more exits. */
	evtchn_mask(xs_port);
	evtchn_send(xs_port);
}

/* A ring whose producer ran more than a ring ahead is corrupt. */
static int xs_ring_broken(void)
{
	if (desynced)
		return 1;
	if (xs_intf->rsp_prod - xs_intf->rsp_cons > XENSTORE_RING_SIZE ||
	    xs_intf->req_prod - xs_intf->req_cons > XENSTORE_RING_SIZE)
		return 1;
	return (xs_intf->server_features & XENSTORE_SERVER_FEATURE_ERROR) &&
	       xs_intf->error != XENSTORE_ERROR_NONE;
}

/* ---- The two byte streams ------------------------------------------------------ */

static long xs_put(const void *data, uint32_t len, uint64_t deadline)
{
	const char *p = data;

	while (len) {
		XENSTORE_RING_IDX cons = xs_intf->req_cons;
		XENSTORE_RING_IDX prod = xs_intf->req_prod;
		uint32_t used = prod - cons, off, chunk;

		if (used > XENSTORE_RING_SIZE)
			return -EIO;
		if (used == XENSTORE_RING_SIZE) {
			/* Let the daemon see what is there, then wait for it
			 * to make room. */
			xs_notify();
			if (!xs_wait(req_has_room, deadline))
				return -ETIME;  /* xs_send marks the stream */
			continue;
		}
		/* The data goes in after cons was read (x86: a store never
		 * passes an earlier load). */
		barrier();
		off = MASK_XENSTORE_IDX(prod);
		chunk = XENSTORE_RING_SIZE - used;
		if (chunk > XENSTORE_RING_SIZE - off)
			chunk = XENSTORE_RING_SIZE - off;
		if (chunk > len)
			chunk = len;
		memcpy((char *)xs_intf->req + off, p, chunk);
		virt_wmb();     /* the bytes before the index that publishes them */
		xs_intf->req_prod = prod + chunk;
		p += chunk;
		len -= chunk;
	}
	return 0;
}

static long xs_get(void *dst, uint32_t len, uint64_t deadline)
{
	char *p = dst;

	while (len) {
		XENSTORE_RING_IDX cons = xs_intf->rsp_cons;
		XENSTORE_RING_IDX prod = xs_intf->rsp_prod;
		uint32_t avail = prod - cons, off, chunk;

		if (avail > XENSTORE_RING_SIZE)
			return -EIO;
		if (avail == 0) {
			if (consumed_unnotified)
				xs_notify();
			if (!xs_wait(rsp_has_data, deadline))
				return -ETIME;
			continue;
		}
		virt_rmb();     /* prod before the bytes it covers */
		off = MASK_XENSTORE_IDX(cons);
		chunk = avail;
		if (chunk > XENSTORE_RING_SIZE - off)
			chunk = XENSTORE_RING_SIZE - off;
		if (chunk > len)
			chunk = len;
		memcpy(p, (const char *)xs_intf->rsp + off, chunk);
		virt_mb();      /* done reading before the space is handed back */
		xs_intf->rsp_cons = cons + chunk;
		p += chunk;
		len -= chunk;
		if (avail == XENSTORE_RING_SIZE)
			xs_notify();
		else
			consumed_unnotified = 1;
	}
	return 0;
}

/* ---- Messages ------------------------------------------------------------------- */

static long xs_send(uint32_t type, uint32_t req_id, uint32_t tx,
		    const void *payload, uint32_t len, uint64_t deadline)
{
	struct xsd_sockmsg hdr = { .type = type, .req_id = req_id, .tx_id = tx, .len = len };
	long rc;

	if (len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	rc = xs_put(&hdr, sizeof(hdr), deadline);
	if (!rc)
		rc = xs_put(payload, len, deadline);
	xs_notify();
	/* Even the header going in whole would leave the daemon waiting for
	 * a payload that is not coming: out of step either way. */
	if (rc)
		desynced = 1;
	return rc;
}

/* Receives one whole message into *hdr and rx_buf (NUL-terminated). */
static long xs_recv(struct xsd_sockmsg *hdr, uint64_t deadline)
{
	XENSTORE_RING_IDX start = xs_intf->rsp_cons;
	long rc = xs_get(hdr, sizeof(*hdr), deadline);

	if (rc) {
		/* A timeout before the first byte leaves the stream intact. */
		if (xs_intf->rsp_cons != start)
			desynced = 1;
		return rc;
	}
	/* A message is written whole and promptly: once its header is here,
	 * the rest gets a fresh timeout. */
	deadline = time_now() + XS_REPLY_TIMEOUT_NS;
	if (hdr->len > XENSTORE_PAYLOAD_MAX) {
		desynced = 1;   /* the daemon broke the protocol: give up */
		return -EIO;
	}
	rc = xs_get(rx_buf, hdr->len, deadline);
	if (rc) {
		desynced = 1;
		return rc;
	}
	rx_buf[hdr->len] = '\0';
	return 0;
}

/* Copies the watch event in rx_buf (path\0token\0) to the queue. */
static void xs_queue_event(uint32_t len)
{
	const char *path = rx_buf;
	size_t plen = strlen(path), tlen;
	const char *token;
	struct xs_watch_event *ev;

	if (plen + 1 >= len) {
		xs_watch_dropped++;     /* no token: malformed */
		return;
	}
	token = path + plen + 1;
	tlen = strlen(token);
	if (plen >= XS_WATCH_PATH_LEN || tlen >= XS_WATCH_TOKEN_LEN ||
	    watch_count == XS_WATCH_QUEUE) {
		xs_watch_dropped++;
		return;
	}
	ev = &watch_queue[(watch_head + watch_count) % XS_WATCH_QUEUE];
	memcpy(ev->path, path, plen + 1);
	memcpy(ev->token, token, tlen + 1);
	watch_count++;
}

long xs_request(uint32_t type, uint32_t tx, const void *payload, uint32_t len,
		char *reply, size_t reply_size, uint32_t *reply_type)
{
	uint64_t deadline = time_now() + XS_REPLY_TIMEOUT_NS;
	uint32_t req_id;
	struct xsd_sockmsg hdr;
	long rc;

	if (!xs_intf)
		return -ENODEV;
	if (xs_ring_broken())
		return -EIO;
	req_id = next_req_id++;
	rc = xs_send(type, req_id, tx, payload, len, deadline);
	if (rc)
		return rc;
	for (;;) {
		rc = xs_recv(&hdr, deadline);
		if (rc)
			return rc;
		if (hdr.type == XS_WATCH_EVENT) {
			xs_queue_event(hdr.len);
			continue;
		}
		if (hdr.req_id != req_id) {
			/* The late reply of a request that timed out. */
			xs_stray_replies++;
			continue;
		}
		break;
	}
	if (reply_type)
		*reply_type = hdr.type;
	if (hdr.type == XS_ERROR) {
		size_t n = strlen(rx_buf);
		int e;

		if (n >= sizeof(last_error))
			n = sizeof(last_error) - 1;
		memcpy(last_error, rx_buf, n);
		last_error[n] = '\0';
		e = xs_errno_of(rx_buf);
		return e > 0 ? -e : -EIO;
	}
	if (hdr.type != type)
		return -EIO;
	if (reply) {
		if (hdr.len >= reply_size)
			return -ENOBUFS;
		memcpy(reply, rx_buf, hdr.len + 1);
	}
	return hdr.len;
}

/* ---- Operations ------------------------------------------------------------------ */

/* Appends s and its NUL to tx_buf at *len; -E2BIG if it does not fit. */
static long put_str(uint32_t *len, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > sizeof(tx_buf) - *len)
		return -E2BIG;
	memcpy(tx_buf + *len, s, n);
	*len += (uint32_t)n;
	return 0;
}

/* A request whose payload is the given strings, reply discarded except
 * into reply/reply_size. */
static long xs_strings(uint32_t type, uint32_t tx, const char *const *strs,
		       unsigned int n, char *reply, size_t reply_size)
{
	uint32_t len = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		long rc = put_str(&len, strs[i]);

		if (rc)
			return rc;
	}
	return xs_request(type, tx, tx_buf, len, reply, reply_size, NULL);
}

static long xs_ack(long rc)
{
	return rc < 0 ? rc : 0;
}

/* Counts the NUL-terminated strings in the first len bytes of buf. */
static long count_strings(const char *buf, long len)
{
	long i, n = 0;

	for (i = 0; i < len; i++)
		if (buf[i] == '\0')
			n++;
	return n;
}

long xs_read(uint32_t tx, const char *path, char *buf, size_t size)
{
	return xs_strings(XS_READ, tx, &path, 1, buf, size);
}

long xs_write(uint32_t tx, const char *path, const void *value, size_t len)
{
	uint32_t n = 0;
	long rc = put_str(&n, path);

	if (rc)
		return rc;
	if (len > sizeof(tx_buf) - n)
		return -E2BIG;
	memcpy(tx_buf + n, value, len);
	return xs_ack(xs_request(XS_WRITE, tx, tx_buf, n + (uint32_t)len, NULL, 0, NULL));
}

long xs_write_str(uint32_t tx, const char *path, const char *value)
{
	return xs_write(tx, path, value, strlen(value));
}

long xs_mkdir(uint32_t tx, const char *path)
{
	return xs_ack(xs_strings(XS_MKDIR, tx, &path, 1, NULL, 0));
}

long xs_rm(uint32_t tx, const char *path)
{
	return xs_ack(xs_strings(XS_RM, tx, &path, 1, NULL, 0));
}

long xs_directory(uint32_t tx, const char *path, char *buf, size_t size)
{
	long rc = xs_strings(XS_DIRECTORY, tx, &path, 1, buf, size);

	return rc < 0 ? rc : count_strings(buf, rc);
}

long xs_get_perms(uint32_t tx, const char *path, char *buf, size_t size)
{
	long rc = xs_strings(XS_GET_PERMS, tx, &path, 1, buf, size);

	return rc < 0 ? rc : count_strings(buf, rc);
}

long xs_set_perms(uint32_t tx, const char *path, const char *const *perms,
		  unsigned int n)
{
	uint32_t len = 0;
	unsigned int i;
	long rc = put_str(&len, path);

	for (i = 0; !rc && i < n; i++)
		rc = put_str(&len, perms[i]);
	if (rc)
		return rc;
	return xs_ack(xs_request(XS_SET_PERMS, tx, tx_buf, len, NULL, 0, NULL));
}

long xs_watch(const char *path, const char *token)
{
	const char *a[2] = { path, token };

	return xs_ack(xs_strings(XS_WATCH, 0, a, 2, NULL, 0));
}

long xs_unwatch(const char *path, const char *token)
{
	const char *a[2] = { path, token };

	return xs_ack(xs_strings(XS_UNWATCH, 0, a, 2, NULL, 0));
}

unsigned int xs_watch_pending(void)
{
	return watch_count;
}

long xs_read_watch(struct xs_watch_event *ev, uint64_t timeout_ns)
{
	uint64_t deadline = time_now() + timeout_ns;

	if (!xs_intf)
		return -ENODEV;
	while (!watch_count) {
		struct xsd_sockmsg hdr;
		long rc;

		if (xs_ring_broken())
			return -EIO;
		if (!rsp_has_data()) {
			if (consumed_unnotified)
				xs_notify();
			if (!xs_wait(rsp_has_data, deadline))
				return -ETIME;
		}
		rc = xs_recv(&hdr, time_now() + XS_REPLY_TIMEOUT_NS);
		if (rc)
			return rc;
		if (hdr.type == XS_WATCH_EVENT)
			xs_queue_event(hdr.len);
		else
			xs_stray_replies++;
	}
	*ev = watch_queue[watch_head];
	watch_head = (watch_head + 1) % XS_WATCH_QUEUE;
	watch_count--;
	return 0;
}

long xs_transaction_start(uint32_t *tx)
{
	char id[16];
	unsigned long v;
	const char *empty = "";
	long rc = xs_strings(XS_TRANSACTION_START, 0, &empty, 1, id, sizeof(id));

	if (rc < 0)
		return rc;
	if (parse_ulong(id, &v) || v == 0 || v > 0xffffffffUL)
		return -EIO;
	*tx = (uint32_t)v;
	return 0;
}

long xs_transaction_end(uint32_t tx, int commit)
{
	const char *verdict = commit ? "T" : "F";

	return xs_ack(xs_strings(XS_TRANSACTION_END, tx, &verdict, 1, NULL, 0));
}

long xs_get_domain_path(domid_t domid, char *buf, size_t size)
{
	char id[8];
	const char *p = id;

	snprintk(id, sizeof(id), "%u", (unsigned int)domid);
	return xs_strings(XS_GET_DOMAIN_PATH, 0, &p, 1, buf, size);
}

const char *xs_list_item(const char *list, long count, long n)
{
	if (n < 0 || n >= count)
		return NULL;
	while (n--)
		list += strlen(list) + 1;
	return list;
}

/* ---- Set-up --------------------------------------------------------------------- */

long xs_init(const struct start_info *si, const char **step)
{
	const char *dummy;
	void *va;
	long rc;

	if (!step)
		step = &dummy;
	va = pvring_attach(si, si->store_mfn, si->store_evtchn, &xs_upcalls, &rc, step);
	if (!va)
		return rc;
	xs_port = si->store_evtchn;
	xs_intf = va;
	if (xs_ring_broken()) {
		*step = "ring indices";
		xs_intf = NULL;
		return -EIO;
	}
	return 0;
}
