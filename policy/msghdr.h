/*
 * msghdr: the header section of a stored message (RFC 5322 section 2.2),
 * for mailposture-check. Unfolds continuation lines, accepts CRLF or LF,
 * stops at the first empty line, and caps everything: the number of
 * headers, each header's size and the total. The milter does not use it:
 * libmilter hands it headers one by one.
 */
#ifndef MP_MSGHDR_H
#define MP_MSGHDR_H

#include <stdbool.h>
#include <stddef.h>

#define MP_MSGHDR_MAX_HEADERS 1000
#define MP_MSGHDR_MAX_FIELD   (256 * 1024)

struct mp_msghdr_field {
	char *name;             /* NUL-terminated, never contains ':' or controls */
	char *value;            /* unfolded; may hold NUL bytes: use value_len */
	size_t value_len;
};

struct mp_msghdr {
	size_t count;
	struct mp_msghdr_field *field;
};

/*
 * Parses data[0..len). Returns NULL with a static reason in *why_r when a
 * cap is exceeded or a line is neither a field nor a continuation. The
 * result is freed with mp_msghdr_free.
 */
struct mp_msghdr *mp_msghdr_parse(const char *data, size_t len, const char **why_r);
void mp_msghdr_free(struct mp_msghdr **hp);

#endif
