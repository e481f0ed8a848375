#include "console.h"
#include "lib.h"

int guest_main(struct start_info *si)
{
	volatile unsigned long *bad = (volatile unsigned long *)0x1000UL;
	unsigned long v;

	(void)si;
	console_puts("crash: about to fault\n");
	/* Unmapped page, no trap table registered: the domain is crashed. */
	v = *bad;
	(void)v;
	console_puts("crash: still alive\n");
	return 1;
}
