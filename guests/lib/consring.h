/* The PV console ring (xen/include/public/io/console.h): the page at
 * start_info.console.domU.mfn, shared with Domain0's console backend, and
 * its event channel.  The guest produces out[] and consumes in[].
 *
 * Only for guests that ask for it: printk keeps going to console_io.
 * Needs events_init(); consring_init() does mm_init() if not done yet and
 * binds VIRQ_TIMER (time_timer_init) if this vCPU has not, for timeouts. */
#ifndef XG_CONSRING_H
#define XG_CONSRING_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "xen.h"

typedef uint32_t XENCONS_RING_IDX;

#define MASK_XENCONS_IDX(idx, ring)     ((idx) & (sizeof(ring) - 1))

/* Indices run free (uint32 wrap-around); prod - cons is the fill. */
struct xencons_interface {
	char in[1024];                  /* backend -> guest (input) */
	char out[2048];                 /* guest -> backend (output) */
	XENCONS_RING_IDX in_cons, in_prod;
	XENCONS_RING_IDX out_cons, out_prod;
	/* Xen 4.21: XENCONSOLE_CONNECTED (0) once the backend services the
	 * ring.  Informational here: older backends leave it 0 too. */
	uint8_t connection;
};
_Static_assert(offsetof(struct xencons_interface, out) == 1024, "xencons.out");
_Static_assert(offsetof(struct xencons_interface, in_cons) == 3072, "xencons.in_cons");
_Static_assert(offsetof(struct xencons_interface, in_prod) == 3076, "xencons.in_prod");
_Static_assert(offsetof(struct xencons_interface, out_cons) == 3080, "xencons.out_cons");
_Static_assert(offsetof(struct xencons_interface, out_prod) == 3084, "xencons.out_prod");
_Static_assert(offsetof(struct xencons_interface, connection) == 3088, "xencons.connection");

#define XENCONSOLE_CONNECTED            0
#define XENCONSOLE_DISCONNECTED         1

/* How long a write waits for the backend to make room, in all. */
#define CONSRING_WRITE_TIMEOUT_NS       (10 * 1000000000UL)

extern volatile struct xencons_interface *consring_intf;
extern evtchn_port_t consring_port;
extern volatile unsigned long consring_upcalls;

/* Finds the console page from start_info.console.domU.mfn (the M2P, else a
 * P2M search; it must lie in the bootstrap mapping, mapped writable onto
 * that frame), hooks the port's handler and unmasks it.  Returns 0 or a
 * negative errno (*step, if given, names the step). */
long consring_init(const struct start_info *si, const char **step);

/* Copies all of buf into out[], notifying the backend after each chunk and
 * waiting (on the port) while the ring is full.  Returns len, or -ETIME if
 * the backend made no room for CONSRING_WRITE_TIMEOUT_NS. */
long consring_write(const char *buf, size_t len);
long consring_puts(const char *s);
/* printk's formatting, one consring_write (at most 256 characters). */
long consring_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Takes what in[] holds now, up to len bytes, and tells the backend.
 * Returns the count (0 if nothing). */
long consring_read(char *buf, size_t len);

/* Reads up to and including '\n' (not stored; a '\r' before it is
 * dropped), NUL-terminated in buf, waiting up to timeout_ns in all.
 * Returns the line's length, -ETIME on timeout, -ENOBUFS if the line does
 * not fit (the rest of it is left in the ring). */
long consring_read_line(char *buf, size_t size, uint64_t timeout_ns);

#endif /* XG_CONSRING_H */
