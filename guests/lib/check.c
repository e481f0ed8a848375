#include <stdarg.h>

#include "check.h"
#include "console.h"

int failures;
const char *check_name;
int check_failed;

void begin(const char *name)
{
	check_name = name;
	check_failed = 0;
}

void end(void)
{
	if (check_failed)
		failures++;
	else
		printk("ok %s\n", check_name);
	check_name = NULL;
}

void fail(const char *what)
{
	if (check_failed)
		return;
	check_failed = 1;
	printk("FAIL %s: %s\n", check_name, what);
}

void failf(const char *fmt, ...)
{
	va_list ap;

	if (check_failed)
		return;
	check_failed = 1;
	printk("FAIL %s: ", check_name);
	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
	printk("\n");
}

void want(const char *what, int cond)
{
	if (!cond)
		fail(what);
}

void want_rc(const char *what, long got, long want)
{
	if (check_failed || got == want)
		return;
	check_failed = 1;
	printk("FAIL %s: %s: got %ld, want %ld\n", check_name, what, got, want);
}

void want_hex(const char *what, unsigned long got, unsigned long want)
{
	if (check_failed || got == want)
		return;
	check_failed = 1;
	printk("FAIL %s: %s: got 0x%lx, want 0x%lx\n", check_name, what, got, want);
}

void check_rc(const char *name, long got, long want)
{
	begin(name);
	want_rc("result", got, want);
	end();
}
