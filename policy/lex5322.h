/*
 * lex5322: the RFC 5322 lexing that the From and Authentication-Results
 * parsers share: folding and CFWS (comments and folding white space,
 * section 3.2.2) over a bounded, possibly NUL-holding buffer. The first
 * error is kept as a static reason.
 */
#ifndef MP_LEX5322_H
#define MP_LEX5322_H

#include <stdbool.h>

#define MP_LEX_MAX_COMMENT_DEPTH 32

struct mp_lex {
	const char *p;          /* next byte */
	const char *end;        /* one past the last byte: never read */
	const char *why;        /* the reason of the first error, or NULL */
};

/* Records why (only the first reason is kept) and returns false. */
bool mp_lex_fail(struct mp_lex *lx, const char *why);

/*
 * At a CR or LF: consumes the line break. It must be CRLF or LF, followed
 * by a space or tab (folding) or by the end of the value: anything else
 * would let a value smuggle in another header.
 */
bool mp_lex_skip_fold(struct mp_lex *lx);

/*
 * Skips CFWS. Comments nest at most MP_LEX_MAX_COMMENT_DEPTH deep and
 * must be balanced. lenient takes any CR and LF as white space and
 * any nesting depth (for reading the authserv-id of a header that is
 * otherwise broken, so that a forged one is still deleted).
 */
bool mp_lex_skip_cfws(struct mp_lex *lx, bool lenient);

/*
 * Is name the field name want? Case does not count, nor the white space
 * that the obsolete syntax allows before the colon (RFC 5322 4.5.8):
 * "From :" is a From field to a mail reader, so it is one to every part
 * of us (DMARC, DKIM, the milter's caps) alike.
 */
bool mp_lex_field_is(const char *name, const char *want);

#endif
