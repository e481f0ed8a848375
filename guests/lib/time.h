/* Time of an x86-64 PV guest: system time from this vCPU's vcpu_time_info
 * (the pvclock algorithm), the wallclock from shared_info, VIRQ_TIMER and a
 * bounded wait on top of the single-shot timer.  Needs events_init. */
#ifndef XG_TIME_H
#define XG_TIME_H

#include <stdint.h>
#include "events.h"
#include "smp.h"

#define NSEC_PER_USEC           1000UL
#define NSEC_PER_MSEC           1000000UL
#define NSEC_PER_SEC            1000000000UL

/* System time (ns since the hypervisor's epoch) on this vCPU:
 * system_time + ((rdtsc - tsc_timestamp) shifted by tsc_shift) *
 * tsc_to_system_mul >> 32, retried while the version is odd or changes. */
uint64_t time_now(void);

/* The same from an explicit record and TSC value (no retry loop). */
uint64_t time_scale(const volatile struct vcpu_time_info *t, uint64_t tsc);

/* Wallclock at system time 0 (wc_sec_hi:wc_sec, wc_nsec), read under
 * wc_version. */
void time_wallclock_base(uint64_t *sec, uint32_t *nsec);

/* Current wall time: the base plus time_now(). */
void time_wallclock(uint64_t *sec, uint32_t *nsec);

/* VIRQ_TIMER events taken per vCPU, and the system time at the last one
 * (read in the handler). */
extern volatile unsigned long timer_virqs[SMP_MAX_VCPUS];
extern volatile uint64_t timer_last_ns[SMP_MAX_VCPUS];
extern evtchn_port_t timer_port[SMP_MAX_VCPUS];

/* Called by the VIRQ_TIMER handler (in the upcall) with the vCPU and the
 * system time it read, when set. */
extern void (*timer_hook)(unsigned int vcpu, uint64_t now);

/* Binds VIRQ_TIMER for this vCPU to the counting handler and unmasks the
 * port.  Returns the port or the negative error. */
long time_timer_init(void);

/* set_timer_op(deadline), remembered per vCPU so time_arm does not repeat
 * it.  0 stops the timer. */
long time_set_timer(uint64_t deadline);

/* Arms the single-shot timer for deadline unless it is already armed for
 * it. */
void time_arm(uint64_t deadline);

/* EVENTS_WAIT_UNTIL with a deadline (system time, ns): evaluates to 1 once
 * cond holds, 0 if the deadline passes first.  VIRQ_TIMER must be bound on
 * this vCPU (time_timer_init); the single-shot timer is armed for the
 * deadline.  Returns with events unmasked. */
#define TIME_WAIT_UNTIL(cond, deadline)                                   \
({                                                                        \
	uint64_t __deadline = (deadline);                                 \
	int __met;                                                        \
	for (;;) {                                                        \
		events_mask();                                            \
		if (cond) {                                               \
			__met = 1;                                        \
			break;                                            \
		}                                                         \
		if (time_now() >= __deadline) {                           \
			__met = 0;                                        \
			break;                                            \
		}                                                         \
		time_arm(__deadline);                                     \
		HYPERVISOR_sched_block();                                 \
	}                                                                 \
	events_unmask();                                                  \
	__met;                                                            \
})

#endif /* XG_TIME_H */
