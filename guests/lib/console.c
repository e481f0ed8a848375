#include <stdarg.h>
#include "console.h"
#include "hypercall.h"
#include "lib.h"

void console_write(const char *buf, size_t len)
{
	if (len)
		HYPERVISOR_console_io(CONSOLEIO_write, len, (char *)buf);
}

void console_puts(const char *s)
{
	console_write(s, strlen(s));
}

/* Format v in base 10 or 16 at the end of buf; return start pointer. */
static char *fmt_num(char *end, uint64_t v, unsigned int base)
{
	static const char digits[] = "0123456789abcdef";
	char *p = end;

	do {
		*--p = digits[v % base];
		v /= base;
	} while (v);
	return p;
}

void console_put_hex(uint64_t v)
{
	char buf[2 + 16];
	char *p = fmt_num(buf + sizeof(buf), v, 16);

	*--p = 'x';
	*--p = '0';
	console_write(p, buf + sizeof(buf) - p);
}

void console_put_dec(uint64_t v)
{
	char buf[20];
	char *p = fmt_num(buf + sizeof(buf), v, 10);

	console_write(p, buf + sizeof(buf) - p);
}

struct outbuf {
	char *buf;
	size_t size;
	size_t len;
};

static void out_str(struct outbuf *o, const char *s, size_t n)
{
	while (n-- && o->len < o->size)
		o->buf[o->len++] = *s++;
}

void printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}

void vprintk(const char *fmt, va_list ap)
{
	/* 256 characters and the NUL vsnprintk always adds. */
	char buf[257];

	console_write(buf, vsnprintk(buf, sizeof(buf), fmt, ap));
}

size_t snprintk(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vsnprintk(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

size_t vsnprintk(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct outbuf o;
	char num[24];

	if (size == 0)
		return 0;
	o.buf = buf;
	o.size = size - 1;
	o.len = 0;
	for (; *fmt; fmt++) {
		int is_long = 0;
		uint64_t v;
		char *p;

		if (*fmt != '%') {
			out_str(&o, fmt, 1);
			continue;
		}
		fmt++;
		while (*fmt == 'l') {
			is_long = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			p = va_arg(ap, char *);
			if (!p)
				p = "(null)";
			out_str(&o, p, strlen(p));
			break;
		case 'c':
			num[0] = (char)va_arg(ap, int);
			out_str(&o, num, 1);
			break;
		case 'd': {
			int64_t sv = is_long ? va_arg(ap, long) : va_arg(ap, int);

			if (sv < 0) {
				out_str(&o, "-", 1);
				v = -(uint64_t)sv;
			} else {
				v = sv;
			}
			p = fmt_num(num + sizeof(num), v, 10);
			out_str(&o, p, num + sizeof(num) - p);
			break;
		}
		case 'u':
		case 'x':
			v = is_long ? va_arg(ap, unsigned long)
				    : va_arg(ap, unsigned int);
			p = fmt_num(num + sizeof(num), v, *fmt == 'u' ? 10 : 16);
			out_str(&o, p, num + sizeof(num) - p);
			break;
		case 'p':
			v = (uint64_t)va_arg(ap, void *);
			p = fmt_num(num + sizeof(num), v, 16);
			out_str(&o, "0x", 2);
			out_str(&o, p, num + sizeof(num) - p);
			break;
		case '\0':
			fmt--;
			break;
		default:
			out_str(&o, fmt - 1, 2);
			break;
		}
	}
	o.buf[o.len] = '\0';
	return o.len;
}
