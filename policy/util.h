/*
 * util: allocation that never returns NULL, a string buffer that carries
 * its length, and small helpers for untrusted text.
 *
 * Out of memory is not a condition a mail filter can recover from in a
 * useful way, so the x* allocators log and abort; callers never test for
 * NULL.
 */
#ifndef MP_UTIL_H
#define MP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define MP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
/* xreallocarray: realloc for n elements of size, with overflow checking. */
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * struct mp_buf: a growable byte string. data is always NUL-terminated
 * (so it can be handed to C APIs), but len is the truth: data may hold
 * NUL bytes from untrusted input. A zeroed struct is an empty buffer.
 */
struct mp_buf {
	char *data;
	size_t len;
	size_t cap;
};

#define MP_BUF_INIT { NULL, 0, 0 }

void mp_buf_reset(struct mp_buf *b);          /* len = 0, keeps memory */
void mp_buf_free(struct mp_buf *b);           /* releases memory, back to empty */
void mp_buf_append(struct mp_buf *b, const void *p, size_t len);
void mp_buf_puts(struct mp_buf *b, const char *s);
void mp_buf_putc(struct mp_buf *b, char c);
void mp_buf_printf(struct mp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mp_buf_vprintf(struct mp_buf *b, const char *fmt, va_list ap);
/* Returns the NUL-terminated contents ("" for an empty buffer). */
const char *mp_buf_str(const struct mp_buf *b);
/* Hands the memory to the caller (never NULL) and empties the buffer. */
char *mp_buf_steal(struct mp_buf *b);

/*
 * mp_printable: appends src[0..len) to out with every byte that is not
 * printable ASCII replaced by an escape (\xNN), capped at max bytes of
 * input (an ellipsis marks the cut). Use it before text from a peer goes
 * into a log line, a report or a header.
 */
void mp_printable(struct mp_buf *out, const char *src, size_t len, size_t max);
/*
 * The caps callers pass to mp_printable(): how much of an untrusted
 * string one log line, report cell or evidence line shows. Named by what
 * is shown, so that one kind of text is cut the same way everywhere.
 */
#define MP_SHOW_TOKEN   40      /* a tag, keyword or value: "p=rejekt" */
#define MP_SHOW_SETTING 64      /* a configuration value, an AUTH name */
#define MP_SHOW_TERM    80      /* an SPF term, a command-line argument */
#define MP_SHOW_NAME    100     /* a DNS name inside a longer log line */
#define MP_SHOW_REASON  120     /* a reason a library gives (why_bogus) */
#define MP_SHOW_LINE    200     /* one protocol line, reply, hostname or record */
#define MP_SHOW_DOMAIN  255     /* a whole domain name */
#define MP_SHOW_MAILBOX 256     /* a MAIL FROM address */
#define MP_SHOW_TEXT    400     /* a header or record shown whole */
#define MP_SHOW_EVIDENCE 600    /* an audit check's evidence */
/* src[0..len) made printable into dst[dstlen]; a cut is marked "...".
 * True when dst holds src unchanged (nothing escaped, nothing cut). */
bool mp_printable_copy(char *dst, size_t dstlen, const char *src, size_t len);

/* Case-insensitive ASCII comparison that never depends on the locale. */
int mp_strcasecmp(const char *a, const char *b);
int mp_strncasecmp(const char *a, const char *b, size_t n);
/* Lowercases ASCII letters in place. */
void mp_ascii_lower(char *s);
/* ASCII letters and digits, whatever the locale (record syntax is ASCII). */
static inline bool
mp_ascii_isalpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
mp_ascii_isdigit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* strlcpy semantics; returns true when src fit without truncation. */
bool mp_strlcpy(char *dst, const char *src, size_t size);
/* snprintf into dst[size], nothing when dst is NULL or size is 0 (a
 * reason buffer the caller may leave out). */
void mp_setf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Monotonic clock in milliseconds. */
unsigned long long mp_now_ms(void);

/*
 * A deadline shared by all the DNS lookups of one evaluation, so that the
 * whole of it stays inside the MTA's milter timeouts.
 */
struct mp_deadline {
	unsigned long long end_ms;  /* 0: no deadline */
};
void mp_deadline_set(struct mp_deadline *d, unsigned ms);
/* Milliseconds left (0 when expired); UINT_MAX-ish when there is no deadline. */
unsigned mp_deadline_left(const struct mp_deadline *d);
bool mp_deadline_expired(const struct mp_deadline *d);

#endif
