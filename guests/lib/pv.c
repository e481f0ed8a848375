#include "console.h"
#include "lib.h"
#include "pv.h"

static const unsigned long *p2m;

void pv_init(const struct start_info *si)
{
	p2m = (const unsigned long *)si->mfn_list;
}

unsigned long pv_virt_to_mfn(const void *va)
{
	return p2m[((unsigned long)va - XG_VIRT_BASE) >> 12];
}

long pv_register_callback(unsigned int type, unsigned int flags,
			  unsigned long address)
{
	struct callback_register cb = {
		.type = (uint16_t)type,
		.flags = (uint16_t)flags,
		.address = address,
	};

	return HYPERVISOR_callback_op(CALLBACKOP_register, &cb);
}

long pv_set_iopl(unsigned int iopl)
{
	struct physdev_set_iopl op = { .iopl = iopl };

	return HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl, &op);
}

long pv_mmuext_baseptr(unsigned int cmd, unsigned long mfn)
{
	struct mmuext_op op = { .cmd = cmd, .arg1 = mfn };
	unsigned int done = 0;

	return HYPERVISOR_mmuext_op(&op, 1, &done, DOMID_SELF);
}

static trap_handler_t handlers[TRAP_NR_VECTORS];

void trap_set_handler(unsigned int vector, trap_handler_t handler)
{
	if (vector < TRAP_NR_VECTORS)
		handlers[vector] = handler;
}

void trap_dispatch(struct trap_regs *regs)
{
	trap_handler_t h = NULL;

	if (regs->vector < TRAP_NR_VECTORS)
		h = handlers[regs->vector];
	if (h) {
		h(regs);
		return;
	}
	printk("trap: unhandled vector %lu ec %lx rip %lx cs %lx rflags %lx rsp %lx\n",
	       regs->vector, regs->error_code, regs->rip, regs->cs,
	       regs->rflags, regs->rsp);
	xen_shutdown(SHUTDOWN_crash);
}
