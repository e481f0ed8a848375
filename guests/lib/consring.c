/* The console ring: the guest produces out[] and consumes in[], with the
 * barriers of any Xen ring (see xenstore.c): producer writes bytes, write
 * barrier, prod; consumer reads prod, read barrier, bytes, full barrier,
 * cons.  Every batch of output and every consumption of input is followed
 * by a notification, as the backend has no other way to learn of it. */
#include "consring.h"
#include "console.h"
#include "errno.h"
#include "events.h"
#include "lib.h"
#include "mm.h"
#include "pvring.h"
#include "time.h"

volatile struct xencons_interface *consring_intf;
evtchn_port_t consring_port;
volatile unsigned long consring_upcalls;

#define barrier()       asm volatile("" ::: "memory")
#define virt_rmb()      barrier()               /* x86: loads stay in order */
#define virt_wmb()      barrier()               /* x86: stores stay in order */
#define virt_mb()       __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* Waits block at most this long at a time, so a backend that drains without
 * notifying still gets served. */
#define CONSRING_SLICE_NS       (10 * NSEC_PER_MSEC)

static int out_has_room(void)
{
	return consring_intf->out_prod - consring_intf->out_cons < sizeof(consring_intf->out);
}

static int in_has_data(void)
{
	return consring_intf->in_prod != consring_intf->in_cons;
}

static int cr_wait(int (*cond)(void), uint64_t deadline)
{
	for (;;) {
		uint64_t now = time_now(), slice = now + CONSRING_SLICE_NS;

		if (cond())
			return 1;
		if (now >= deadline)
			return 0;
		if (slice > deadline)
			slice = deadline;
		if (TIME_WAIT_UNTIL(cond(), slice))
			return 1;
	}
}

long consring_write(const char *buf, size_t len)
{
	volatile struct xencons_interface *c = consring_intf;
	const uint32_t size = sizeof(c->out);
	uint64_t deadline = time_now() + CONSRING_WRITE_TIMEOUT_NS;
	size_t done = 0;

	if (!c)
		return -ENODEV;
	while (done < len) {
		XENCONS_RING_IDX cons = c->out_cons, prod = c->out_prod;
		uint32_t used = prod - cons, off, chunk;

		if (used > size)
			return -EIO;
		if (used == size) {
			if (!cr_wait(out_has_room, deadline))
				return -ETIME;
			/* Progress: the timeout is for a stall, not for all. */
			deadline = time_now() + CONSRING_WRITE_TIMEOUT_NS;
			continue;
		}
		barrier();      /* bytes after cons was read */
		off = MASK_XENCONS_IDX(prod, c->out);
		chunk = size - used;
		if (chunk > size - off)
			chunk = size - off;
		if (chunk > len - done)
			chunk = (uint32_t)(len - done);
		memcpy((char *)c->out + off, buf + done, chunk);
		virt_wmb();     /* the bytes before the index */
		c->out_prod = prod + chunk;
		done += chunk;
		/* A wrapped write comes round again at once; notify when the
		 * ring is full or the text is all in. */
		if (done == len || used + chunk == size)
			evtchn_send(consring_port);
	}
	return (long)len;
}

long consring_puts(const char *s)
{
	return consring_write(s, strlen(s));
}

long consring_printf(const char *fmt, ...)
{
	char buf[257];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vsnprintk(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return consring_write(buf, n);
}

/* Takes up to len bytes; *stop_at_nl stops after a '\n'.  No notify. */
static size_t take(char *buf, size_t len, int stop_at_nl)
{
	volatile struct xencons_interface *c = consring_intf;
	XENCONS_RING_IDX cons = c->in_cons, prod = c->in_prod;
	size_t n = 0;

	if (prod - cons > sizeof(c->in))
		return 0;       /* corrupt indices: take nothing */
	virt_rmb();     /* prod before the bytes it covers */
	while (cons != prod && n < len) {
		char ch = c->in[MASK_XENCONS_IDX(cons, c->in)];

		cons++;
		buf[n++] = ch;
		if (stop_at_nl && ch == '\n')
			break;
	}
	virt_mb();      /* done reading before the space is handed back */
	c->in_cons = cons;
	return n;
}

long consring_read(char *buf, size_t len)
{
	size_t n;

	if (!consring_intf)
		return -ENODEV;
	n = take(buf, len, 0);
	if (n)
		evtchn_send(consring_port);
	return (long)n;
}

long consring_read_line(char *buf, size_t size, uint64_t timeout_ns)
{
	uint64_t deadline = time_now() + timeout_ns;
	size_t n = 0;

	if (!consring_intf)
		return -ENODEV;
	if (size == 0)
		return -ENOBUFS;
	for (;;) {
		size_t got;

		if (n == size - 1) {
			buf[n] = '\0';
			return -ENOBUFS;
		}
		if (!cr_wait(in_has_data, deadline)) {
			buf[n] = '\0';
			return -ETIME;
		}
		got = take(buf + n, size - 1 - n, 1);
		if (got)
			evtchn_send(consring_port);
		n += got;
		if (n && buf[n - 1] == '\n') {
			n--;
			if (n && buf[n - 1] == '\r')
				n--;
			buf[n] = '\0';
			return (long)n;
		}
	}
}

long consring_init(const struct start_info *si, const char **step)
{
	const char *dummy;
	void *va;
	long rc;

	if (!step)
		step = &dummy;
	va = pvring_attach(si, si->console.domU.mfn, si->console.domU.evtchn, &consring_upcalls, &rc, step);
	if (!va)
		return rc;
	consring_port = si->console.domU.evtchn;
	consring_intf = va;
	return 0;
}
