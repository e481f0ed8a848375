/* Event channels of an x86-64 PV guest, 2-level ABI: the shared_info
 * mapping, EVTCHNOP_* wrappers, the upcall dispatcher on the event callback
 * (traps.S event_entry, vector TRAP_VEC_EVENT), per-port handlers, masking
 * helpers and the block-until-condition idiom.
 *
 * The dispatcher runs with this vCPU's events masked (the hypervisor sets
 * evtchn_upcall_mask on delivery) and returns through HYPERVISOR_iret, which
 * restores the mask the interrupted code had.  Each port is handled by one
 * vCPU (like Linux's cpu_evtchn_mask): vCPU 0 unless bound elsewhere with
 * evtchn_bind_ipi/evtchn_bind_virq/evtchn_set_cpu. */
#ifndef XG_EVENTS_H
#define XG_EVENTS_H

#include <stdint.h>
#include "hypercall.h"
#include "smp.h"
#include "xen.h"

/* Error numbers the hypercalls return negated (Xen's public errno.h). */
#include "errno.h"

/* Ports the dispatcher keeps handlers for; a pending port at or above this
 * (or without a handler) is acknowledged and counted in events_spurious. */
#define EVTCHN_NR_HANDLED       1024

/* The domain's shared_info page, mapped by events_init (NULL before). */
extern struct shared_info *shared_info;

/* Upcalls taken and ports acknowledged without a handler, per vCPU. */
extern volatile unsigned long events_upcalls[SMP_MAX_VCPUS];
extern volatile unsigned long events_spurious[SMP_MAX_VCPUS];

/* Maps shared_info (update_va_mapping over a page of the image), masks
 * every port, masks this vCPU's events, registers the event and failsafe
 * callbacks and hooks the dispatcher to TRAP_VEC_EVENT.  Events stay masked
 * on this vCPU until events_unmask().  Returns 0 or the first failing
 * hypercall's result. */
long events_init(const struct start_info *si);

static inline volatile struct vcpu_info *this_vcpu_info(void)
{
	return &shared_info->vcpu_info[smp_id()];
}

/* This vCPU's evtchn_upcall_mask.  events_unmask forces delivery (a null
 * hypercall) when an upcall is already pending, as Linux does. */
void events_mask(void);
void events_unmask(void);

static inline int events_masked(void)
{
	return this_vcpu_info()->evtchn_upcall_mask != 0;
}

/* Sleep until cond holds: { mask; if (cond) break; SCHEDOP_block }, then
 * unmask.  SCHEDOP_block unmasks and blocks atomically and the pending
 * upcall is delivered on its way back, so handlers have run before cond is
 * looked at again.  Returns with events unmasked. */
#define EVENTS_WAIT_UNTIL(cond)                                           \
do {                                                                      \
	for (;;) {                                                        \
		events_mask();                                            \
		if (cond)                                                 \
			break;                                            \
		HYPERVISOR_sched_block();                                 \
	}                                                                 \
	events_unmask();                                                  \
} while (0)

/* ---- Handlers -------------------------------------------------------------- */

typedef void (*evtchn_handler_t)(evtchn_port_t port, void *arg);

/* handler(port, arg) runs in the upcall, on the port's vCPU, after the
 * port's pending bit was cleared.  NULL removes it. */
void evtchn_set_handler(evtchn_port_t port, evtchn_handler_t handler, void *arg);

/* Which vCPU's dispatcher handles port (the dispatcher's filter only; see
 * evtchn_bind_vcpu for where the hypervisor sends the notification). */
void evtchn_set_cpu(evtchn_port_t port, unsigned int vcpu);

/* ---- EVTCHNOP_* -------------------------------------------------------------
 * Those that allocate a port return it (>= 0) or the negative error. */

long evtchn_alloc_unbound(domid_t dom, domid_t remote_dom);
long evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port);
/* Also sets the dispatcher's vCPU for the new port to vcpu. */
long evtchn_bind_virq(uint32_t virq, uint32_t vcpu);
long evtchn_bind_ipi(uint32_t vcpu);
long evtchn_close(evtchn_port_t port);
long evtchn_send(evtchn_port_t port);
long evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *out);
/* EVTCHNOP_bind_vcpu, and the dispatcher's vCPU with it on success. */
long evtchn_bind_vcpu(evtchn_port_t port, uint32_t vcpu);
/* EVTCHNOP_unmask: clears the mask bit and notifies if the port is pending. */
long evtchn_unmask(evtchn_port_t port);

/* ---- The port bitmaps in shared_info (locked bit operations) ------------ */

static inline void sync_set_bit(unsigned int nr, volatile unsigned long *map)
{
	asm volatile("lock btsq %1, %0"
		     : "+m"(map[nr / 64]) : "r"((unsigned long)(nr % 64)) : "memory");
}

static inline void sync_clear_bit(unsigned int nr, volatile unsigned long *map)
{
	asm volatile("lock btrq %1, %0"
		     : "+m"(map[nr / 64]) : "r"((unsigned long)(nr % 64)) : "memory");
}

static inline int sync_test_bit(unsigned int nr, const volatile unsigned long *map)
{
	return (int)((map[nr / 64] >> (nr % 64)) & 1);
}

static inline void evtchn_mask(evtchn_port_t port)
{
	sync_set_bit(port, shared_info->evtchn_mask);
}

/* Clears the mask bit only: no notification (see evtchn_unmask). */
static inline void evtchn_clear_mask(evtchn_port_t port)
{
	sync_clear_bit(port, shared_info->evtchn_mask);
}

static inline int evtchn_is_masked(evtchn_port_t port)
{
	return sync_test_bit(port, shared_info->evtchn_mask);
}

static inline int evtchn_is_pending(evtchn_port_t port)
{
	return sync_test_bit(port, shared_info->evtchn_pending);
}

static inline void evtchn_clear_pending(evtchn_port_t port)
{
	sync_clear_bit(port, shared_info->evtchn_pending);
}

#endif /* XG_EVENTS_H */
