#ifndef XG_LIB_H
#define XG_LIB_H

#include <stddef.h>
#include <stdint.h>
#include "xen.h"

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* Find "key=value" in a space-separated command line.  Copies value
 * (NUL-terminated, truncated to buflen-1) into buf.  Returns the value's
 * length, or -1 if key is absent. */
int cmdline_get(const char *cmdline, const char *key, char *buf, size_t buflen);

/* Parse an unsigned decimal number.  Returns 0 on success, -1 on error. */
int parse_ulong(const char *s, unsigned long *out);

/* SCHEDOP_shutdown with the given reason; never returns. */
void xen_shutdown(unsigned int reason) __attribute__((noreturn));

/* Provided by each guest.  0 -> poweroff, anything else -> crash. */
int guest_main(struct start_info *si);

#endif /* XG_LIB_H */
