#include "console.h"
#include "lib.h"

static const struct {
	const char *name;
	unsigned int reason;
} reasons[] = {
	{ "poweroff",   SHUTDOWN_poweroff },
	{ "reboot",     SHUTDOWN_reboot },
	{ "suspend",    SHUTDOWN_suspend },
	{ "crash",      SHUTDOWN_crash },
	{ "watchdog",   SHUTDOWN_watchdog },
	{ "soft_reset", SHUTDOWN_soft_reset },
};

int guest_main(struct start_info *si)
{
	char name[32] = "poweroff";
	size_t i;

	cmdline_get(si->cmd_line, "reason", name, sizeof(name));
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (!strcmp(name, reasons[i].name)) {
			printk("shutdown: reason=%s\n", name);
			xen_shutdown(reasons[i].reason);
		}
	}
	printk("shutdown: unknown reason %s\n", name);
	xen_shutdown(SHUTDOWN_crash);
}
