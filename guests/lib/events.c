/* Event channels: shared_info mapping, EVTCHNOP_* wrappers and the 2-level
 * upcall dispatcher (the scan Linux's xen_evtchn_do_upcall does). */
#include "events.h"
#include "lib.h"
#include "pv.h"

struct shared_info *shared_info;
volatile unsigned long events_upcalls[SMP_MAX_VCPUS];
volatile unsigned long events_spurious[SMP_MAX_VCPUS];

/* The page whose virtual address shared_info takes over. */
static char shared_info_page[4096] __attribute__((aligned(4096)));

static struct {
	evtchn_handler_t fn;
	void *arg;
} handlers[EVTCHN_NR_HANDLED];

/* cpu_ports[v]: the ports vCPU v's dispatcher handles (bit per port). */
static volatile unsigned long cpu_ports[SMP_MAX_VCPUS][64];

#define NR_WORDS        (EVTCHN_2L_NR_CHANNELS / 64)

static void dispatch(unsigned int cpu, evtchn_port_t port)
{
	evtchn_handler_t fn = NULL;
	void *arg = NULL;

	if (port < EVTCHN_NR_HANDLED) {
		fn = handlers[port].fn;
		arg = handlers[port].arg;
	}
	if (fn)
		fn(port, arg);
	else
		events_spurious[cpu]++;
}

/* TRAP_VEC_EVENT: entered with this vCPU's events masked. */
static void evtchn_upcall(struct trap_regs *regs)
{
	unsigned int cpu = smp_id();
	volatile struct vcpu_info *vi = &shared_info->vcpu_info[cpu];
	volatile unsigned long *pending = shared_info->evtchn_pending;
	volatile unsigned long *mask = shared_info->evtchn_mask;

	(void)regs;
	events_upcalls[cpu]++;
	do {
		unsigned long sel;

		/* Clear the summary flag before taking the selector: an event
		 * set after the xchg raises both again, and the loop sees it. */
		vi->evtchn_upcall_pending = 0;
		sel = __atomic_exchange_n((unsigned long *)&vi->evtchn_pending_sel,
					  0UL, __ATOMIC_SEQ_CST);
		while (sel) {
			unsigned int word = (unsigned int)__builtin_ctzl(sel);

			sel &= sel - 1;
			for (;;) {
				unsigned long bits = pending[word] & ~mask[word] &
						     cpu_ports[cpu][word];
				evtchn_port_t port;

				if (!bits)
					break;
				port = word * 64 + (unsigned int)__builtin_ctzl(bits);
				sync_clear_bit(port, pending);
				dispatch(cpu, port);
			}
		}
	} while (vi->evtchn_upcall_pending);
}

long events_init(const struct start_info *si)
{
	long rc;
	unsigned int i;

	pv_init(si);
	rc = HYPERVISOR_update_va_mapping((unsigned long)shared_info_page,
					  si->shared_info | _PAGE_PRESENT | _PAGE_RW |
					  _PAGE_ACCESSED | _PAGE_DIRTY,
					  UVMF_INVLPG);
	if (rc)
		return rc;
	shared_info = (struct shared_info *)shared_info_page;
	shared_info->vcpu_info[smp_id()].evtchn_upcall_mask = 1;
	for (i = 0; i < NR_WORDS; i++) {
		shared_info->evtchn_mask[i] = ~0UL;
		cpu_ports[0][i] = ~0UL;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	trap_set_handler(TRAP_VEC_EVENT, evtchn_upcall);
	rc = pv_register_callback(CALLBACKTYPE_event, CALLBACKF_mask_events,
				  (unsigned long)event_entry);
	if (rc)
		return rc;
	return pv_register_callback(CALLBACKTYPE_failsafe, CALLBACKF_mask_events,
				    (unsigned long)failsafe_entry);
}

void events_mask(void)
{
	this_vcpu_info()->evtchn_upcall_mask = 1;
	asm volatile("" ::: "memory");
}

void events_unmask(void)
{
	volatile struct vcpu_info *vi = this_vcpu_info();

	asm volatile("" ::: "memory");
	vi->evtchn_upcall_mask = 0;
	/* The store must be visible before the pending flag is read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vi->evtchn_upcall_pending)
		HYPERVISOR_xen_version(XENVER_version, NULL);
}

void evtchn_set_handler(evtchn_port_t port, evtchn_handler_t handler, void *arg)
{
	if (port >= EVTCHN_NR_HANDLED)
		return;
	handlers[port].fn = NULL;
	asm volatile("" ::: "memory");
	handlers[port].arg = arg;
	asm volatile("" ::: "memory");
	handlers[port].fn = handler;
}

void evtchn_set_cpu(evtchn_port_t port, unsigned int vcpu)
{
	unsigned int v;

	if (port >= EVTCHN_2L_NR_CHANNELS || vcpu >= SMP_MAX_VCPUS)
		return;
	for (v = 0; v < SMP_MAX_VCPUS; v++)
		if (v != vcpu)
			sync_clear_bit(port, cpu_ports[v]);
	sync_set_bit(port, cpu_ports[vcpu]);
}

long evtchn_alloc_unbound(domid_t dom, domid_t remote_dom)
{
	struct evtchn_alloc_unbound op = { .dom = dom, .remote_dom = remote_dom };
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);

	return rc ? rc : (long)op.port;
}

long evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port)
{
	struct evtchn_bind_interdomain op = {
		.remote_dom = remote_dom, .remote_port = remote_port,
	};
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);

	return rc ? rc : (long)op.local_port;
}

long evtchn_bind_virq(uint32_t virq, uint32_t vcpu)
{
	struct evtchn_bind_virq op = { .virq = virq, .vcpu = vcpu };
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &op);

	if (rc)
		return rc;
	evtchn_set_cpu(op.port, vcpu);
	return op.port;
}

long evtchn_bind_ipi(uint32_t vcpu)
{
	struct evtchn_bind_ipi op = { .vcpu = vcpu };
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &op);

	if (rc)
		return rc;
	evtchn_set_cpu(op.port, vcpu);
	return op.port;
}

long evtchn_close(evtchn_port_t port)
{
	struct evtchn_close op = { .port = port };

	return HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);
}

long evtchn_send(evtchn_port_t port)
{
	struct evtchn_send op = { .port = port };

	return HYPERVISOR_event_channel_op(EVTCHNOP_send, &op);
}

long evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *out)
{
	memset(out, 0, sizeof(*out));
	out->dom = dom;
	out->port = port;
	return HYPERVISOR_event_channel_op(EVTCHNOP_status, out);
}

long evtchn_bind_vcpu(evtchn_port_t port, uint32_t vcpu)
{
	struct evtchn_bind_vcpu op = { .port = port, .vcpu = vcpu };
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &op);

	if (!rc)
		evtchn_set_cpu(port, vcpu);
	return rc;
}

long evtchn_unmask(evtchn_port_t port)
{
	struct evtchn_unmask op = { .port = port };

	return HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &op);
}
