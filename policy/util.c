#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

static void __attribute__((noreturn))
oom(size_t size)
{
	mp_log(LOG_CRIT, "out of memory allocating %zu bytes", size);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *
xreallocarray(void *ptr, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(ptr, n * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct mp_buf b = MP_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	mp_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return mp_buf_steal(&b);
}

static void
buf_reserve(struct mp_buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		oom(SIZE_MAX);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
mp_buf_reset(struct mp_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
mp_buf_free(struct mp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
mp_buf_append(struct mp_buf *b, const void *p, size_t len)
{
	buf_reserve(b, len);
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
mp_buf_puts(struct mp_buf *b, const char *s)
{
	mp_buf_append(b, s, strlen(s));
}

void
mp_buf_putc(struct mp_buf *b, char c)
{
	mp_buf_append(b, &c, 1);
}

void
mp_buf_vprintf(struct mp_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
mp_buf_printf(struct mp_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mp_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *
mp_buf_str(const struct mp_buf *b)
{
	return b->data ? b->data : "";
}

char *
mp_buf_steal(struct mp_buf *b)
{
	char *p = b->data ? b->data : xstrdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
mp_printable(struct mp_buf *out, const char *src, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			mp_buf_putc(out, (char)c);
		else
			mp_buf_printf(out, "\\x%02x", c);
	}
	if (len > max)
		mp_buf_puts(out, "...");
}

static int
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int
mp_strcasecmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

	while (*x && lower(*x) == lower(*y))
		x++, y++;
	return lower(*x) - lower(*y);
}

int
mp_strncasecmp(const char *a, const char *b, size_t n)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

	for (; n > 0; n--, x++, y++) {
		if (lower(*x) != lower(*y))
			return lower(*x) - lower(*y);
		if (*x == '\0')
			return 0;
	}
	return 0;
}

void
mp_ascii_lower(char *s)
{
	for (; *s; s++)
		*s = (char)lower((unsigned char)*s);
}

bool
mp_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size == 0)
		return false;
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return false;
	}
	memcpy(dst, src, n + 1);
	return true;
}

unsigned long long
mp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ULL + (unsigned long long)ts.tv_nsec / 1000000ULL;
}

void
mp_deadline_set(struct mp_deadline *d, unsigned ms)
{
	d->end_ms = ms ? mp_now_ms() + ms : 0;
}

unsigned
mp_deadline_left(const struct mp_deadline *d)
{
	unsigned long long now;

	if (d == NULL || d->end_ms == 0)
		return UINT_MAX;
	now = mp_now_ms();
	if (now >= d->end_ms)
		return 0;
	return (unsigned)(d->end_ms - now);
}

bool
mp_deadline_expired(const struct mp_deadline *d)
{
	return mp_deadline_left(d) == 0;
}

void
mp_setf(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (dst == NULL || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

bool
mp_printable_copy(char *dst, size_t dstlen, const char *src, size_t len)
{
	struct mp_buf b = MP_BUF_INIT;
	bool same;

	if (dstlen == 0)
		return len == 0;
	/* An escape takes four bytes: cap the input so that the common
	 * case fits, then cut what is still too long. */
	mp_printable(&b, src, len, dstlen > 4 ? dstlen - 4 : 0);
	same = b.len == len && (len == 0 || memcmp(mp_buf_str(&b), src, len) == 0);
	if (!mp_strlcpy(dst, mp_buf_str(&b), dstlen)) {
		same = false;
		if (dstlen > 4)
			memcpy(dst + dstlen - 4, "...", 4);
	}
	mp_buf_free(&b);
	return same;
}
