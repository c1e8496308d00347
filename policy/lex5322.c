#include "config.h"

#include <stddef.h>
#include <string.h>

#include "lex5322.h"
#include "util.h"

bool
mp_lex_fail(struct mp_lex *lx, const char *why)
{
	if (lx->why == NULL)
		lx->why = why;
	return false;
}

bool
mp_lex_skip_fold(struct mp_lex *lx)
{
	if (*lx->p == '\r') {
		if (lx->end - lx->p < 2 || lx->p[1] != '\n')
			return mp_lex_fail(lx, "bare CR");
		lx->p++;
	}
	lx->p++;
	if (lx->p < lx->end && *lx->p != ' ' && *lx->p != '\t')
		return mp_lex_fail(lx, "line break not followed by whitespace");
	return true;
}

bool
mp_lex_skip_cfws(struct mp_lex *lx, bool lenient)
{
	int depth = 0;

	while (lx->p < lx->end) {
		unsigned char c = (unsigned char)*lx->p;

		if (c == '\r' || c == '\n') {
			if (lenient)
				lx->p++;
			else if (!mp_lex_skip_fold(lx))
				return false;
			continue;
		}
		if (depth == 0 && c != ' ' && c != '\t' && c != '(')
			return true;
		if (c == '(') {
			/*
			 * Lenient mode (reading our own authserv-id to delete a
			 * forged header) never gives up on depth: a counter, not
			 * recursion, and the header size bounds it.
			 */
			if (++depth > MP_LEX_MAX_COMMENT_DEPTH && !lenient)
				return mp_lex_fail(lx, "comments nested too deep");
		} else if (c == ')') {
			depth--;
		} else if (c == '\\' && depth > 0) {
			/* A quoted pair: the next byte never ends the comment. */
			if (lx->end - lx->p < 2)
				break;
			lx->p++;
		}
		lx->p++;
	}
	if (depth > 0)
		return mp_lex_fail(lx, "unbalanced comment");
	return true;
}

bool
mp_lex_field_is(const char *name, const char *want)
{
	size_t n = strlen(name);

	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	return n == strlen(want) && mp_strncasecmp(name, want, n) == 0;
}
