/* Hypercall wrappers: call into the hypervisor-filled hypercall page,
 * 32 bytes per hypercall.  Args in rdi, rsi, rdx, r10, r8; result in rax.
 * Argument registers are treated as clobbered (in/out). */
#ifndef XG_HYPERCALL_H
#define XG_HYPERCALL_H

#include "xen.h"

extern char hypercall_page[4096];

#define _hypercall_call(nr) "call hypercall_page + %c[off]"

#define _hypercall1(type, name, a1)                                       \
({                                                                        \
	register long __res asm("rax");                                   \
	register long __a1 asm("rdi") = (long)(a1);                       \
	asm volatile(_hypercall_call(name)                                \
		     : "=r"(__res), "+r"(__a1)                            \
		     : [off] "i"(__HYPERVISOR_##name * 32)                \
		     : "rcx", "r11", "memory");                           \
	(type)__res;                                                      \
})

#define _hypercall2(type, name, a1, a2)                                   \
({                                                                        \
	register long __res asm("rax");                                   \
	register long __a1 asm("rdi") = (long)(a1);                       \
	register long __a2 asm("rsi") = (long)(a2);                       \
	asm volatile(_hypercall_call(name)                                \
		     : "=r"(__res), "+r"(__a1), "+r"(__a2)                \
		     : [off] "i"(__HYPERVISOR_##name * 32)                \
		     : "rcx", "r11", "memory");                           \
	(type)__res;                                                      \
})

#define _hypercall3(type, name, a1, a2, a3)                               \
({                                                                        \
	register long __res asm("rax");                                   \
	register long __a1 asm("rdi") = (long)(a1);                       \
	register long __a2 asm("rsi") = (long)(a2);                       \
	register long __a3 asm("rdx") = (long)(a3);                       \
	asm volatile(_hypercall_call(name)                                \
		     : "=r"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3)    \
		     : [off] "i"(__HYPERVISOR_##name * 32)                \
		     : "rcx", "r11", "memory");                           \
	(type)__res;                                                      \
})

#define _hypercall4(type, name, a1, a2, a3, a4)                           \
({                                                                        \
	register long __res asm("rax");                                   \
	register long __a1 asm("rdi") = (long)(a1);                       \
	register long __a2 asm("rsi") = (long)(a2);                       \
	register long __a3 asm("rdx") = (long)(a3);                       \
	register long __a4 asm("r10") = (long)(a4);                       \
	asm volatile(_hypercall_call(name)                                \
		     : "=r"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3),   \
		       "+r"(__a4)                                         \
		     : [off] "i"(__HYPERVISOR_##name * 32)                \
		     : "rcx", "r11", "memory");                           \
	(type)__res;                                                      \
})

#define _hypercall5(type, name, a1, a2, a3, a4, a5)                       \
({                                                                        \
	register long __res asm("rax");                                   \
	register long __a1 asm("rdi") = (long)(a1);                       \
	register long __a2 asm("rsi") = (long)(a2);                       \
	register long __a3 asm("rdx") = (long)(a3);                       \
	register long __a4 asm("r10") = (long)(a4);                       \
	register long __a5 asm("r8") = (long)(a5);                        \
	asm volatile(_hypercall_call(name)                                \
		     : "=r"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3),   \
		       "+r"(__a4), "+r"(__a5)                             \
		     : [off] "i"(__HYPERVISOR_##name * 32)                \
		     : "rcx", "r11", "memory");                           \
	(type)__res;                                                      \
})

static inline long HYPERVISOR_console_io(int cmd, unsigned long count,
					 char *buf)
{
	return _hypercall3(long, console_io, cmd, count, buf);
}

static inline long HYPERVISOR_xen_version(int cmd, void *arg)
{
	return _hypercall2(long, xen_version, cmd, arg);
}

static inline long HYPERVISOR_sched_op(int cmd, void *arg)
{
	return _hypercall2(long, sched_op, cmd, arg);
}

static inline long HYPERVISOR_vm_assist(unsigned int cmd, unsigned int type)
{
	return _hypercall2(long, vm_assist, cmd, type);
}

/* timeout: absolute system time (ns) of the vCPU's single-shot timer, which
 * raises VIRQ_TIMER; 0 stops it. */
static inline long HYPERVISOR_set_timer_op(uint64_t timeout)
{
	return _hypercall1(long, set_timer_op, timeout);
}

/* cmd: EVTCHNOP_*, arg: the command's struct (event_channel.h). */
static inline long HYPERVISOR_event_channel_op(int cmd, void *arg)
{
	return _hypercall2(long, event_channel_op, cmd, arg);
}

/* cmd: VCPUOP_*, on vCPU vcpuid of the calling domain. */
static inline long HYPERVISOR_vcpu_op(int cmd, unsigned int vcpuid, void *arg)
{
	return _hypercall3(long, vcpu_op, cmd, vcpuid, arg);
}

static inline long HYPERVISOR_sched_yield(void)
{
	return HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

/* Unmasks this vCPU's events (evtchn_upcall_mask = 0) and blocks until one
 * is pending; a pending upcall is delivered on the way back. */
static inline long HYPERVISOR_sched_block(void)
{
	return HYPERVISOR_sched_op(SCHEDOP_block, NULL);
}

/* Blocks until one of the ports is pending or the system time reaches
 * timeout (0: no timeout).  Leaves the event mask as it is. */
static inline long HYPERVISOR_sched_poll(evtchn_port_t *ports,
					 unsigned int nr_ports,
					 uint64_t timeout)
{
	struct sched_poll poll = {
		.ports = ports, .nr_ports = nr_ports, .timeout = timeout,
	};

	return HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
}

/* Alternative entry path, as a 64-bit PV kernel could do it directly:
 * rax = nr, args in rdi, rsi, rdx, r10, r8, then SYSCALL.  The CPU
 * clobbers rcx (return rip) and r11 (rflags). */
static inline long hypercall_via_syscall(long nr, long a1, long a2, long a3,
					 long a4, long a5)
{
	register long __res asm("rax") = nr;
	register long __a1 asm("rdi") = a1;
	register long __a2 asm("rsi") = a2;
	register long __a3 asm("rdx") = a3;
	register long __a4 asm("r10") = a4;
	register long __a5 asm("r8") = a5;

	asm volatile("syscall"
		     : "+r"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3),
		       "+r"(__a4), "+r"(__a5)
		     :
		     : "rcx", "r11", "memory");
	return __res;
}

#endif /* XG_HYPERCALL_H */
