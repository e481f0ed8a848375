/* Attaching to a shared ring page the toolstack set up for the domain before
 * it booted (the xenstore and console pages named in start_info). */
#ifndef XG_PVRING_H
#define XG_PVRING_H

#include "events.h"
#include "xen.h"

/* Finds the page of frame mfn in the boot image, makes sure this vCPU's
 * VIRQ_TIMER is bound (ring waits have timeouts), and hooks port to a
 * handler that counts upcalls into *upcalls, then unmasks it.  events_init
 * must have run.  Returns the page's address, or NULL with *rc the error
 * and *step what failed. */
void *pvring_attach(const struct start_info *si, unsigned long mfn, evtchn_port_t port,
		    volatile unsigned long *upcalls, long *rc, const char **step);

#endif /* XG_PVRING_H */
