/*
 * dkim_body: the length of the canonicalized body (RFC 6376 3.4.3 simple,
 * 3.4.4 relaxed), counted as the body streams, without keeping any of
 * it. libopendkim stops counting at a signature's l=, so it cannot say
 * whether text follows the signed part; this can. Line ends are read as
 * libopendkim reads them with DKIM_LIBFLAGS_FIXCRLF: CRLF, a bare LF and
 * a bare CR each end a line. It also watches the runs without white
 * space, which libopendkim's relaxed canonicalization holds whole.
 */
#include "config.h"

#include "dkim_int.h"

enum { SIMPLE, RELAXED };

/* A line ends: empty lines wait, since those at the end do not count. */
static void
line_end(struct dk_body *b)
{
	for (int k = SIMPLE; k <= RELAXED; k++) {
		if (b->line[k] == 0) {
			b->blanks[k]++;
			continue;
		}
		b->len[k] += 2 * b->blanks[k] + b->line[k] + 2;
		b->blanks[k] = 0;
		b->line[k] = 0;
	}
	b->ws = false;
	b->run = 0;
}

void
dk_body_feed(struct dk_body *b, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		bool after_cr = b->cr;

		b->cr = c == '\r';
		if (c == '\r' || (c == '\n' && !after_cr)) {
			line_end(b);
			continue;
		}
		if (c == '\n')
			continue;   /* the LF of a CRLF: the CR ended the line */
		b->line[SIMPLE]++;
		if (c == ' ' || c == '\t') {
			/* relaxed: a run of WSP is one SP, and none at the end */
			b->ws = true;
			b->run = 0;
			continue;
		}
		if (b->ws)
			b->line[RELAXED]++;
		b->ws = false;
		b->line[RELAXED]++;
		if (++b->run > MP_DKIM_BODY_RUN)
			b->overrun = true;
	}
}

void
dk_body_end(struct dk_body *b)
{
	if (b->ended)
		return;
	b->ended = true;
	/* A last line without its CRLF gets one (RFC 6376 3.4.3, 3.4.4). */
	b->ws = false;
	for (int k = SIMPLE; k <= RELAXED; k++)
		if (b->line[k] > 0)
			b->len[k] += 2 * b->blanks[k] + b->line[k] + 2;
	/* simple: an empty body is one CRLF */
	if (b->len[SIMPLE] == 0)
		b->len[SIMPLE] = 2;
}

unsigned long long
dk_body_len(const struct dk_body *b, bool relaxed)
{
	return b->len[relaxed ? RELAXED : SIMPLE];
}
