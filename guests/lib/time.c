/* System time, wallclock and VIRQ_TIMER. */
#include "events.h"
#include "time.h"

volatile unsigned long timer_virqs[SMP_MAX_VCPUS];
volatile uint64_t timer_last_ns[SMP_MAX_VCPUS];
evtchn_port_t timer_port[SMP_MAX_VCPUS];
void (*timer_hook)(unsigned int vcpu, uint64_t now);
static uint64_t armed_deadline[SMP_MAX_VCPUS];

static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;

	asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((uint64_t)hi << 32) | lo;
}

uint64_t time_scale(const volatile struct vcpu_time_info *t, uint64_t tsc)
{
	uint64_t delta = tsc - t->tsc_timestamp;
	int shift = t->tsc_shift;

	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return t->system_time +
	       (uint64_t)(((unsigned __int128)delta * t->tsc_to_system_mul) >> 32);
}

uint64_t time_now(void)
{
	const volatile struct vcpu_time_info *t = &this_vcpu_info()->time;
	uint32_t version;
	uint64_t ns;

	do {
		version = t->version;
		asm volatile("" ::: "memory");
		ns = time_scale(t, rdtsc_ordered());
		asm volatile("" ::: "memory");
	} while ((version & 1) || version != t->version);
	return ns;
}

void time_wallclock_base(uint64_t *sec, uint32_t *nsec)
{
	const volatile struct shared_info *s = shared_info;
	uint32_t version;

	do {
		version = s->wc_version;
		asm volatile("" ::: "memory");
		*sec = ((uint64_t)s->wc_sec_hi << 32) | s->wc_sec;
		*nsec = s->wc_nsec;
		asm volatile("" ::: "memory");
	} while ((version & 1) || version != s->wc_version);
}

void time_wallclock(uint64_t *sec, uint32_t *nsec)
{
	uint64_t now = time_now();
	uint64_t ns;

	time_wallclock_base(sec, nsec);
	ns = *nsec + now % NSEC_PER_SEC;
	*sec += now / NSEC_PER_SEC + ns / NSEC_PER_SEC;
	*nsec = (uint32_t)(ns % NSEC_PER_SEC);
}

static void timer_virq(evtchn_port_t port, void *arg)
{
	unsigned int cpu = smp_id();
	uint64_t now = time_now();
	void (*hook)(unsigned int, uint64_t) = timer_hook;

	(void)port;
	(void)arg;
	timer_last_ns[cpu] = now;
	timer_virqs[cpu]++;
	if (hook)
		hook(cpu, now);
}

long time_timer_init(void)
{
	unsigned int cpu = smp_id();
	long port = evtchn_bind_virq(VIRQ_TIMER, cpu);
	long rc;

	if (port < 0)
		return port;
	timer_port[cpu] = (evtchn_port_t)port;
	evtchn_set_handler((evtchn_port_t)port, timer_virq, NULL);
	rc = evtchn_unmask((evtchn_port_t)port);
	return rc ? rc : port;
}

long time_set_timer(uint64_t deadline)
{
	armed_deadline[smp_id()] = deadline;
	return HYPERVISOR_set_timer_op(deadline);
}

void time_arm(uint64_t deadline)
{
	if (armed_deadline[smp_id()] != deadline)
		time_set_timer(deadline);
}
