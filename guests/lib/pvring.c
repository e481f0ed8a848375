#include "pvring.h"
#include "errno.h"
#include "mm.h"
#include "smp.h"
#include "time.h"

/* The ring's contents say everything; the upcall only wakes the waiter. */
static void pvring_count_event(evtchn_port_t port, void *arg)
{
	(void)port;
	(*(volatile unsigned long *)arg)++;
}

void *pvring_attach(const struct start_info *si, unsigned long mfn, evtchn_port_t port,
		    volatile unsigned long *upcalls, long *rc, const char **step)
{
	const char *why;
	void *va;

	*step = NULL;
	if (!shared_info) {
		*step = "events_init first";
		*rc = -EINVAL;
		return NULL;
	}
	if (!mm_si)
		mm_init((struct start_info *)si);
	va = mm_image_frame_va(mfn, &why);
	if (!va) {
		*step = why;
		*rc = -EFAULT;
		return NULL;
	}
	if (!timer_port[smp_id()]) {
		*rc = time_timer_init();
		if (*rc < 0) {
			*step = "bind VIRQ_TIMER";
			return NULL;
		}
	}
	evtchn_set_handler(port, pvring_count_event, (void *)upcalls);
	*rc = evtchn_unmask(port);
	if (*rc) {
		*step = "unmask the ring's port";
		return NULL;
	}
	*rc = 0;
	return va;
}
