/* Probes the hypercall ABI from inside a guest and reports each result as
 * "ok <name>" or "FAIL <name>: got <x>, want <y>".  The integration tests read
 * these lines: the assertions are about what a guest observes. */
#include "console.h"
#include "hypercall.h"
#include "lib.h"

static int failures;

static void expect(const char *name, long got, long want)
{
	if (got == want) {
		printk("ok %s\n", name);
	} else {
		printk("FAIL %s: got %ld, want %ld\n", name, got, want);
		failures++;
	}
}

/* A raw call through the hypercall page with any number (not only the
 * named ones), to reach unimplemented and out-of-range entries. */
static long hypercall_raw(long nr, long a1, long a2)
{
	register long res asm("rax");
	register long r1 asm("rdi") = a1;
	register long r2 asm("rsi") = a2;
	void *entry = hypercall_page + nr * 32;
	asm volatile("call *%[entry]"
		     : "=r"(res), "+r"(r1), "+r"(r2)
		     : [entry] "r"(entry)
		     : "rcx", "rdx", "r8", "r10", "r11", "memory");
	return res;
}

#include "errno.h"

#define BAD_POINTER ((void *)0x1000)            /* unmapped */
#define HYPERVISOR_POINTER ((void *)0xffff810000000000UL)

static char buf[1024];

int guest_main(struct start_info *si)
{
	(void)si;
	long v = HYPERVISOR_xen_version(XENVER_version, 0);
	expect("version.page", v, (4L << 16) | 19);
	expect("version.syscall", hypercall_via_syscall(__HYPERVISOR_xen_version, XENVER_version, 0, 0, 0, 0), v);

	expect("extraversion", HYPERVISOR_xen_version(XENVER_extraversion, buf), 0);
	expect("extraversion.text", strcmp(buf, ".0-xenolith"), 0);
	expect("capabilities", HYPERVISOR_xen_version(XENVER_capabilities, buf), 0);
	expect("capabilities.text", strcmp(buf, "xen-3.0-x86_64"), 0);
	expect("capabilities.bad_pointer", HYPERVISOR_xen_version(XENVER_capabilities, BAD_POINTER), -EFAULT);
	expect("capabilities.hypervisor_pointer", HYPERVISOR_xen_version(XENVER_capabilities, HYPERVISOR_POINTER), -EFAULT);
	expect("pagesize", HYPERVISOR_xen_version(7, 0), 4096);
	expect("pagesize.nonnull", HYPERVISOR_xen_version(7, buf), -EINVAL);

	unsigned long params = 0;
	expect("platform_parameters", HYPERVISOR_xen_version(5, &params), 0);
	expect("platform_parameters.virt_start", params == 0xffff800000000000UL, 1);

	struct { unsigned int idx; unsigned int map; } fi = { 0, 0xdeadbeef };
	expect("get_features.0", HYPERVISOR_xen_version(XENVER_get_features, &fi), 0);
	expect("get_features.0.direct_mapped", (fi.map >> 17) & 1, 1);
	expect("get_features.0.not_direct_mapped", (fi.map >> 16) & 1, 0);
	fi.idx = 1;
	expect("get_features.1", HYPERVISOR_xen_version(XENVER_get_features, &fi), -EINVAL);

	expect("commandline.denied", HYPERVISOR_xen_version(9, buf), 0);
	expect("commandline.denied.text", strcmp(buf, "<denied>"), 0);
	expect("build_id.denied", HYPERVISOR_xen_version(10, buf), -EPERM);
	expect("capabilities2.length", HYPERVISOR_xen_version(12, 0), 14);
	struct { unsigned int len; char text[4]; } small = { 4, "" };
	expect("capabilities2.small", HYPERVISOR_xen_version(12, &small), -ENOBUFS);
	small.len = 0;
	expect("capabilities2.zero", HYPERVISOR_xen_version(12, &small), -EINVAL);
	expect("xen_version.unknown", HYPERVISOR_xen_version(99, 0), -ENOSYS);

	expect("console_io.write", HYPERVISOR_console_io(CONSOLEIO_write, 0, buf), 0);
	expect("console_io.bad_pointer", HYPERVISOR_console_io(CONSOLEIO_write, 16, BAD_POINTER), -EFAULT);
	expect("console_io.negative", HYPERVISOR_console_io(CONSOLEIO_write, 0x80000000UL, buf), -EINVAL);
	expect("console_io.unknown", HYPERVISOR_console_io(7, 0, buf), -ENOSYS);

	expect("vm_assist.enable", HYPERVISOR_vm_assist(0, 2), 0);
	expect("vm_assist.disable", HYPERVISOR_vm_assist(1, 2), 0);
	expect("vm_assist.invalid_type", HYPERVISOR_vm_assist(0, 6), -EINVAL);
	expect("vm_assist.huge_type", HYPERVISOR_vm_assist(0, 64), -EINVAL);
	expect("vm_assist.bad_cmd", HYPERVISOR_vm_assist(5, 2), -ENOSYS);
	expect("vm_assist.pae_feature", (HYPERVISOR_vm_assist(0, 3), HYPERVISOR_xen_version(XENVER_get_features, (fi.idx = 0, &fi)), (fi.map >> 4) & 1), 1);

	expect("sched_op.yield", HYPERVISOR_sched_op(SCHEDOP_yield, 0), 0);
	expect("sched_op.shutdown.bad_pointer", HYPERVISOR_sched_op(SCHEDOP_shutdown, BAD_POINTER), -EFAULT);
	unsigned int reason = 77;
	expect("sched_op.shutdown.bad_reason", HYPERVISOR_sched_op(SCHEDOP_shutdown, &reason), -EINVAL);
	expect("sched_op.remote_shutdown", HYPERVISOR_sched_op(4, buf), -EPERM);
	expect("sched_op.unknown", HYPERVISOR_sched_op(99, 0), -ENOSYS);

	expect("unimplemented", hypercall_raw(11, 0, 0), -ENOSYS);
	expect("out_of_table", hypercall_raw(100, 0, 0), -ENOSYS);
	expect("syscall.unknown", hypercall_via_syscall(1000, 0, 0, 0, 0, 0), -ENOSYS);

	printk("hypercalls: %d failures\n", failures);
	return failures == 0 ? 0 : 1;
}
