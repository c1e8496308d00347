#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "msghdr.h"
#include "util.h"

/* RFC 5322 ftext: printable US-ASCII except colon. */
static bool
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

void
mp_msghdr_free(struct mp_msghdr **hp)
{
	struct mp_msghdr *h = *hp;

	if (h == NULL)
		return;
	for (size_t i = 0; i < h->count; i++) {
		free(h->field[i].name);
		free(h->field[i].value);
	}
	free(h->field);
	free(h);
	*hp = NULL;
}

struct mp_msghdr *
mp_msghdr_parse(const char *data, size_t len, const char **why_r)
{
	struct mp_msghdr *h = xcalloc(1, sizeof(*h));
	struct mp_buf value = MP_BUF_INIT;
	size_t pos = 0, cap = 0;
	bool open = false;	/* a field is being collected in value */

	*why_r = NULL;
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t linelen = nl ? (size_t)(nl - line) : len - pos;

		pos += linelen + (nl ? 1 : 0);
		if (linelen > 0 && line[linelen - 1] == '\r')
			linelen--;
		if (linelen == 0)
			break;	/* the end of the header section */

		if (line[0] == ' ' || line[0] == '\t') {
			if (!open) {
				*why_r = "continuation line before the first header";
				goto fail;
			}
			/* Unfolding removes only the line break (RFC 5322 2.2.3). */
			if (value.len + linelen > MP_MSGHDR_MAX_FIELD) {
				*why_r = "header field too long";
				goto fail;
			}
			mp_buf_append(&value, line, linelen);
			continue;
		}

		if (open) {
			h->field[h->count - 1].value_len = value.len;
			h->field[h->count - 1].value = mp_buf_steal(&value);
			open = false;
		}
		size_t n = 0;
		while (n < linelen && is_ftext((unsigned char)line[n]))
			n++;
		if (n == 0 || n == linelen || line[n] != ':') {
			*why_r = "line is neither a header field nor a continuation";
			goto fail;
		}
		if (h->count >= MP_MSGHDR_MAX_HEADERS) {
			*why_r = "too many header fields";
			goto fail;
		}
		if (linelen - n - 1 > MP_MSGHDR_MAX_FIELD) {
			*why_r = "header field too long";
			goto fail;
		}
		if (h->count == cap) {
			cap = cap ? cap * 2 : 16;
			h->field = xreallocarray(h->field, cap, sizeof(*h->field));
		}
		h->field[h->count].name = xstrndup(line, n);
		h->field[h->count].value = NULL;
		h->field[h->count].value_len = 0;
		h->count++;
		/* The value starts after the colon; leading WSP is not part of it. */
		n++;
		while (n < linelen && (line[n] == ' ' || line[n] == '\t'))
			n++;
		mp_buf_reset(&value);
		mp_buf_append(&value, line + n, linelen - n);
		open = true;
	}
	if (open) {
		h->field[h->count - 1].value_len = value.len;
		h->field[h->count - 1].value = mp_buf_steal(&value);
	}
	mp_buf_free(&value);
	return h;

fail:
	if (open) {
		/* The field being collected owns no value yet. */
		h->field[h->count - 1].value = mp_buf_steal(&value);
	}
	mp_buf_free(&value);
	mp_msghdr_free(&h);
	return NULL;
}
