/* A xenstore client over the domain's store ring (xen/include/public/io/
 * xs_wire.h, docs/misc/xenstore.txt): the wire ABI, and a synchronous client
 * that sends one request at a time and waits for its reply on the store
 * event channel.  Watch events that arrive while a reply is awaited are kept
 * in a small queue for xs_read_watch.
 *
 * Errors come back negated: the errno of the name in an XS_ERROR reply
 * (xs_error_name() keeps the name itself; names this client does not know,
 * such as oxenstored's "EQUOTA", become -EIO), -ETIME when the daemon does
 * not answer in time, -EIO for a broken ring or an unexpected reply (and
 * for every request after a message went only half across the ring),
 * -ENOBUFS when a reply does not fit the caller's buffer, -E2BIG when a
 * request exceeds XENSTORE_PAYLOAD_MAX.
 *
 * Needs events_init() first; xs_init() does mm_init() if not done yet and
 * binds VIRQ_TIMER (time_timer_init) if this vCPU has not, for timeouts. */
#ifndef XG_XENSTORE_H
#define XG_XENSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "xen.h"

/* ---- The wire ABI (xs_wire.h) ----------------------------------------------- */

enum xsd_sockmsg_type {
	XS_CONTROL              = 0,    /* XS_DEBUG in older headers */
	XS_DIRECTORY            = 1,
	XS_READ                 = 2,
	XS_GET_PERMS            = 3,
	XS_WATCH                = 4,
	XS_UNWATCH              = 5,
	XS_TRANSACTION_START    = 6,
	XS_TRANSACTION_END      = 7,
	XS_INTRODUCE            = 8,
	XS_RELEASE              = 9,
	XS_GET_DOMAIN_PATH      = 10,
	XS_WRITE                = 11,
	XS_MKDIR                = 12,
	XS_RM                   = 13,
	XS_SET_PERMS            = 14,
	XS_WATCH_EVENT          = 15,
	XS_ERROR                = 16,
	XS_IS_DOMAIN_INTRODUCED = 17,
	XS_RESUME               = 18,
	XS_SET_TARGET           = 19,
	XS_RESTRICT             = 20,   /* obsolete */
	XS_RESET_WATCHES        = 21,
	XS_DIRECTORY_PART       = 22,
	XS_INVALID              = 0xffff,
};

/* In front of every message, both ways; len payload bytes follow. */
struct xsd_sockmsg {
	uint32_t type;          /* XS_* */
	uint32_t req_id;        /* echoed in the reply */
	uint32_t tx_id;         /* transaction, 0 for none */
	uint32_t len;
};
_Static_assert(offsetof(struct xsd_sockmsg, req_id) == 4, "xsd_sockmsg.req_id");
_Static_assert(offsetof(struct xsd_sockmsg, tx_id) == 8, "xsd_sockmsg.tx_id");
_Static_assert(offsetof(struct xsd_sockmsg, len) == 12, "xsd_sockmsg.len");
_Static_assert(sizeof(struct xsd_sockmsg) == 16, "sizeof xsd_sockmsg");

/* Watch event payload: the path, then the token. */
enum xs_watch_type {
	XS_WATCH_PATH = 0,
	XS_WATCH_TOKEN,
};

#define XENSTORE_RING_SIZE      1024
typedef uint32_t XENSTORE_RING_IDX;
#define MASK_XENSTORE_IDX(idx)  ((idx) & (XENSTORE_RING_SIZE - 1))

/* The store page.  Indices run free (uint32 wrap-around); prod - cons is
 * the number of bytes in a ring. */
struct xenstore_domain_interface {
	char req[XENSTORE_RING_SIZE];   /* guest -> daemon */
	char rsp[XENSTORE_RING_SIZE];   /* replies and watch events */
	XENSTORE_RING_IDX req_cons, req_prod;
	XENSTORE_RING_IDX rsp_cons, rsp_prod;
	uint32_t server_features;       /* XENSTORE_SERVER_FEATURE_* */
	uint32_t connection;            /* XENSTORE_CONNECTED / _RECONNECT */
	uint32_t error;                 /* XENSTORE_ERROR_*, with FEATURE_ERROR */
};
_Static_assert(offsetof(struct xenstore_domain_interface, rsp) == 1024, "xs_intf.rsp");
_Static_assert(offsetof(struct xenstore_domain_interface, req_cons) == 2048, "xs_intf.req_cons");
_Static_assert(offsetof(struct xenstore_domain_interface, req_prod) == 2052, "xs_intf.req_prod");
_Static_assert(offsetof(struct xenstore_domain_interface, rsp_cons) == 2056, "xs_intf.rsp_cons");
_Static_assert(offsetof(struct xenstore_domain_interface, rsp_prod) == 2060, "xs_intf.rsp_prod");
_Static_assert(offsetof(struct xenstore_domain_interface, server_features) == 2064, "xs_intf.server_features");
_Static_assert(offsetof(struct xenstore_domain_interface, connection) == 2068, "xs_intf.connection");
_Static_assert(offsetof(struct xenstore_domain_interface, error) == 2072, "xs_intf.error");
_Static_assert(sizeof(struct xenstore_domain_interface) == 2076, "sizeof xenstore_domain_interface");

#define XENSTORE_PAYLOAD_MAX    4096    /* violating it: the daemon drops us */
#define XENSTORE_ABS_PATH_MAX   3072    /* violating these: an error reply */
#define XENSTORE_REL_PATH_MAX   2048

#define XENSTORE_SERVER_FEATURE_RECONNECTION    1
#define XENSTORE_SERVER_FEATURE_ERROR           2

#define XENSTORE_CONNECTED      0
#define XENSTORE_RECONNECT      1

#define XENSTORE_ERROR_NONE     0
#define XENSTORE_ERROR_COMM     1
#define XENSTORE_ERROR_RINGIDX  2
#define XENSTORE_ERROR_PROTO    3

/* ---- The client ------------------------------------------------------------- */

/* How long a request waits for its reply. */
#define XS_REPLY_TIMEOUT_NS     (10 * 1000000000UL)

/* Watch events xs_read_watch can hold; more are dropped (and counted). */
#define XS_WATCH_QUEUE          16
#define XS_WATCH_PATH_LEN       256     /* longer paths are dropped too */
#define XS_WATCH_TOKEN_LEN      64

struct xs_watch_event {
	char path[XS_WATCH_PATH_LEN];
	char token[XS_WATCH_TOKEN_LEN];
};

/* The ring and port in use (NULL / 0 before xs_init). */
extern volatile struct xenstore_domain_interface *xs_intf;
extern evtchn_port_t xs_port;
/* Store-port upcalls taken, watch events dropped, stray replies skipped. */
extern volatile unsigned long xs_upcalls;
extern unsigned long xs_watch_dropped;
extern unsigned long xs_stray_replies;

/* Finds the store page's virtual address from start_info.store_mfn (the
 * M2P, else a P2M search; it must lie in the bootstrap mapping, mapped
 * writable onto that frame), hooks the store port's handler and unmasks the
 * port.  Returns 0 or a negative errno (*step, if given, names the step). */
long xs_init(const struct start_info *si, const char **step);

/* The name of the last XS_ERROR reply ("" if none yet). */
const char *xs_error_name(void);

/* errno of an XS_ERROR name: EINVAL .. E2BIG, EPERM; -1 if unknown. */
int xs_errno_of(const char *name);

/* One request: header (a fresh req_id) and len payload bytes.  On a reply
 * of the request's type, copies its payload into reply (NUL-terminated;
 * reply_size must exceed its length, else -ENOBUFS) and returns its length.
 * An XS_ERROR reply returns the negated errno (-EIO for unknown names).
 * *reply_type, if given, gets the reply's type.  reply may be NULL (then
 * reply_size 0): the payload is discarded. */
long xs_request(uint32_t type, uint32_t tx, const void *payload, uint32_t len,
		char *reply, size_t reply_size, uint32_t *reply_type);

/* Paths are relative to /local/domain/<domid> unless they start with '/'.
 * tx: a transaction id from xs_transaction_start, or 0. */

/* The value (NUL-terminated in buf); returns its length. */
long xs_read(uint32_t tx, const char *path, char *buf, size_t size);
long xs_write(uint32_t tx, const char *path, const void *value, size_t len);
long xs_write_str(uint32_t tx, const char *path, const char *value);
long xs_mkdir(uint32_t tx, const char *path);
long xs_rm(uint32_t tx, const char *path);

/* The children's names, each NUL-terminated, one after another in buf;
 * returns the number of children. */
long xs_directory(uint32_t tx, const char *path, char *buf, size_t size);

/* The ACL as NUL-terminated strings ("n0", "r5", ...: owner and default
 * first) in buf; returns their number. */
long xs_get_perms(uint32_t tx, const char *path, char *buf, size_t size);
long xs_set_perms(uint32_t tx, const char *path, const char *const *perms,
		  unsigned int n);

long xs_watch(const char *path, const char *token);
long xs_unwatch(const char *path, const char *token);

/* The next watch event: from the queue, else waits for one up to
 * timeout_ns.  Returns 0, or -ETIME. */
long xs_read_watch(struct xs_watch_event *ev, uint64_t timeout_ns);

/* Watch events queued now. */
unsigned int xs_watch_pending(void);

/* *tx gets the new transaction's id. */
long xs_transaction_start(uint32_t *tx);
/* commit: 1 to commit ("T"; -EAGAIN if it conflicted), 0 to abort ("F"). */
long xs_transaction_end(uint32_t tx, int commit);

long xs_get_domain_path(domid_t domid, char *buf, size_t size);

/* The n-th NUL-terminated string of a list xs_directory/xs_get_perms
 * filled (NULL past the end). */
const char *xs_list_item(const char *list, long count, long n);

#endif /* XG_XENSTORE_H */
