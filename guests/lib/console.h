#ifndef XG_CONSOLE_H
#define XG_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* All output goes through HYPERVISOR_console_io(CONSOLEIO_write, ...). */
void console_write(const char *buf, size_t len);
void console_puts(const char *s);
void console_put_hex(uint64_t v);	/* "0x" + lowercase hex */
void console_put_dec(uint64_t v);

/* Tiny formatter: %s %c %d %u %x %p %%, with optional 'l'.
 * Each call issues a single console write (max 256 bytes). */
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintk(const char *fmt, va_list ap);

/* The same formatting into buf: at most size - 1 characters, always
 * NUL-terminated (size > 0).  Returns the length written. */
size_t snprintk(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
size_t vsnprintk(char *buf, size_t size, const char *fmt, va_list ap);

#endif /* XG_CONSOLE_H */
