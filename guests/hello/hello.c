#include "console.h"
#include "hypercall.h"
#include "lib.h"

int guest_main(struct start_info *si)
{
	long ver;

	(void)si;
	console_puts("Hello from Xenolith guest!\n");
	ver = HYPERVISOR_xen_version(XENVER_version, NULL);
	printk("xen_version: %lu.%lu\n",
	       ((unsigned long)ver >> 16) & 0xffff, (unsigned long)ver & 0xffff);
	return 0;
}
