#include "lib.h"

/* rep-string implementations so the compiler cannot turn them into
 * calls to themselves. */
void *memset(void *s, int c, size_t n)
{
	void *d = s;

	asm volatile("rep stosb"
		     : "+D"(d), "+c"(n)
		     : "a"(c)
		     : "memory");
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	asm volatile("rep movsb"
		     : "+D"(d), "+S"(src), "+c"(n)
		     :
		     : "memory");
	return dst;
}

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return p - s;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cmdline_get(const char *cmdline, const char *key, char *buf, size_t buflen)
{
	size_t klen = strlen(key);
	const char *p = cmdline;
	const char *end = cmdline + XG_MAX_GUEST_CMDLINE;

	while (p < end && *p) {
		const char *tok;
		size_t tlen = 0;

		while (p < end && *p && is_space(*p))
			p++;
		tok = p;
		while (p < end && *p && !is_space(*p)) {
			p++;
			tlen++;
		}
		if (tlen > klen && tok[klen] == '=' && !strncmp(tok, key, klen)) {
			size_t vlen = tlen - klen - 1;
			size_t n = vlen;

			if (buflen == 0)
				return (int)vlen;
			if (n > buflen - 1)
				n = buflen - 1;
			memcpy(buf, tok + klen + 1, n);
			buf[n] = '\0';
			return (int)vlen;
		}
	}
	return -1;
}

int parse_ulong(const char *s, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (~0UL - (unsigned long)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = v;
	return 0;
}
