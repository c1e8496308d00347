/*
 * from: RFC 5322 section 3.4 mailbox-list / address-list parsing for the
 * From header, with the obsolete forms (section 4.4) that real mail still
 * carries. Only the addresses are kept: display names are skipped, since
 * DMARC is about the domain after the @ and nothing else.
 *
 * The parser is a small lexer (CFWS skipped, atoms, quoted strings,
 * domain literals, specials) under a recursive-descent parser that is at
 * most two levels deep (a group holds mailboxes, never groups). Every
 * read is bounded by the end pointer; the input need not be
 * NUL-terminated.
 *
 * Decisions, beyond the grammar:
 * - A NUL byte anywhere is an error: a header with one is not mail, and a
 *   C consumer downstream would see a different value than we do.
 * - A domain literal ([192.0.2.1]) is an error: it has no domain to look
 *   up a DMARC policy for, and accepting it would let a sender step
 *   around DMARC with an address literal.
 * - A line break must be CRLF or bare LF (milters unfold differently) and
 *   must be followed by a space or tab, or end the value; a bare CR or a
 *   line break followed by text is an error (header injection).
 * - 8-bit bytes are accepted in display names and local parts
 *   (RFC 6532); in a domain they are handed to mp_domain_normalize, which
 *   converts a UTF-8 name to its A-label form or rejects it.
 * - Local parts: the SMTP limit of 64 octets (RFC 5321) is not enforced,
 *   DMARC uses only the domain; more than 255 octets is an error. Dots
 *   are accepted anywhere in a local part (leading, trailing, doubled)
 *   because some mobile carriers issue such addresses; two words without
 *   a dot between them are an error.
 * - An unquoted display name with a comma or an @ ("Doe, John <..>",
 *   "ceo@bank.example <...>") is an error, not a guess: the milter's rule
 *   for an unparseable From decides.
 * - Empty list elements and trailing commas (obs-mbox-list) are skipped.
 *   A group without members adds nothing; a value with no mailbox at all
 *   is an error.
 * - Comments nest at most MP_LEX_MAX_COMMENT_DEPTH deep.
 */
#include "config.h"

#include <string.h>

#include "from.h"
#include "lex5322.h"
#include "util.h"

#define FROM_MAX_RAW_DOMAIN     1024    /* before IDN conversion */

enum tok_type {
	T_END,
	T_ATOM,         /* s, len: the atom */
	T_QSTR,         /* s, len: the content between the quotes, still escaped */
	T_DLIT,         /* s, len: the content between the brackets */
	T_SPECIAL,      /* c: one of < > @ , ; : . (and s, len: that byte) */
};

struct tok {
	enum tok_type type;
	const char *s;
	size_t len;
	char c;
};

static bool
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;            /* UTF-8, RFC 6532 */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/*
 * At an opening quote or bracket: finds the closing one. Quoted pairs
 * are skipped over (and must not quote a control), folding is checked,
 * and other controls are refused: they would end up in a local part.
 */
static bool
scan_delimited(struct mp_lex *lx, char close, const char *unbalanced, struct tok *t)
{
	lx->p++;
	t->s = lx->p;
	for (;;) {
		if (lx->p >= lx->end)
			return mp_lex_fail(lx, unbalanced);
		unsigned char c = (unsigned char)*lx->p;
		if (c == (unsigned char)close)
			break;
		if (close == ']' && c == '[')
			return mp_lex_fail(lx, unbalanced);
		if (c == '\\') {
			if (lx->end - lx->p < 2)
				return mp_lex_fail(lx, unbalanced);
			if (is_ctl((unsigned char)lx->p[1]))
				return mp_lex_fail(lx, "control character");
			lx->p += 2;
		} else if (c == '\r' || c == '\n') {
			if (!mp_lex_skip_fold(lx))
				return false;
		} else if (is_ctl(c)) {
			return mp_lex_fail(lx, "control character");
		} else
			lx->p++;
	}
	t->len = (size_t)(lx->p - t->s);
	lx->p++;
	return true;
}

/* Reads the next token after CFWS. */
static bool
next(struct mp_lex *lx, struct tok *t)
{
	memset(t, 0, sizeof(*t));
	if (!mp_lex_skip_cfws(lx, false))
		return false;
	if (lx->p >= lx->end) {
		t->type = T_END;
		return true;
	}
	unsigned char c = (unsigned char)*lx->p;
	if (is_atext(c)) {
		t->type = T_ATOM;
		t->s = lx->p;
		while (lx->p < lx->end && is_atext((unsigned char)*lx->p))
			lx->p++;
		t->len = (size_t)(lx->p - t->s);
		return true;
	}
	switch (c) {
	case '"':
		t->type = T_QSTR;
		return scan_delimited(lx, '"', "unbalanced quote", t);
	case '[':
		t->type = T_DLIT;
		return scan_delimited(lx, ']', "unbalanced bracket", t);
	case '<': case '>': case '@': case ',': case ';': case ':': case '.':
		t->type = T_SPECIAL;
		t->c = (char)c;
		t->s = lx->p;   /* so that a dot can be appended like text */
		t->len = 1;
		lx->p++;
		return true;
	case ')':
		return mp_lex_fail(lx, "unbalanced comment");
	case ']':
		return mp_lex_fail(lx, "unbalanced bracket");
	default:
		return mp_lex_fail(lx, "unexpected character");
	}
}

static bool
peek(struct mp_lex *lx, struct tok *t)
{
	struct mp_lex save = *lx;

	if (!next(lx, t))
		return false;
	*lx = save;
	return true;
}

static bool
is_special(const struct tok *t, char c)
{
	return t->type == T_SPECIAL && t->c == c;
}

/*
 * Appends a token's text to buf (NUL-terminated, size bytes), removing
 * quoted-pair backslashes and folding line breaks from quoted strings.
 */
static bool
append(char *buf, size_t size, size_t *n, const struct tok *t)
{
	for (size_t i = 0; i < t->len; i++) {
		char c = t->s[i];
		if (t->type == T_QSTR) {
			if (c == '\\')
				c = t->s[++i];  /* the lexer saw the pair whole */
			else if (c == '\r' || c == '\n')
				continue;
		}
		if (*n + 1 >= size)
			return false;
		buf[(*n)++] = c;
	}
	buf[*n] = '\0';
	return true;
}

/*
 * domain = dot-atom / obs-domain, read up to the first token that cannot
 * continue it. With out == NULL (an obsolete route) the domain is only
 * skipped; otherwise it goes through mp_domain_normalize.
 */
static bool
parse_domain(struct mp_lex *lx, char out[MP_DOMAIN_MAX])
{
	char raw[FROM_MAX_RAW_DOMAIN];
	size_t n = 0;
	bool word = false, any = false;
	struct tok t;

	raw[0] = '\0';
	for (;;) {
		struct mp_lex save = *lx;

		if (!next(lx, &t))
			return false;
		if (t.type == T_ATOM && !word) {
			word = true;
		} else if (is_special(&t, '.')) {
			word = false;
		} else if (t.type == T_DLIT) {
			if (out != NULL)
				return mp_lex_fail(lx, "domain literal: no domain for DMARC");
			any = true;
			continue;
		} else if (t.type == T_QSTR) {
			return mp_lex_fail(lx, "quoted string in a domain");
		} else {
			*lx = save;
			break;
		}
		any = true;
		if (!append(raw, sizeof(raw), &n, &t))
			return mp_lex_fail(lx, "domain too long");
	}
	if (!any)
		return mp_lex_fail(lx, "empty domain");
	if (out == NULL)
		return true;
	const char *why = NULL;
	if (!mp_domain_normalize(raw, n, out, &why))
		return mp_lex_fail(lx, why != NULL ? why : "invalid domain");
	return true;
}

/* addr-spec = local-part "@" domain, with the obsolete local-part. */
static bool
parse_addr_spec(struct mp_lex *lx, struct mp_mailbox *mb)
{
	size_t n = 0;
	bool words = false, prev_word = false;
	struct tok t;

	mb->local[0] = '\0';
	for (;;) {
		if (!next(lx, &t))
			return false;
		if (t.type == T_ATOM || t.type == T_QSTR) {
			if (prev_word)
				return mp_lex_fail(lx, "space in a local part");
			prev_word = words = true;
		} else if (is_special(&t, '.')) {
			prev_word = false;
		} else if (is_special(&t, '@')) {
			break;
		} else
			return mp_lex_fail(lx, "address without @");
		if (!append(mb->local, sizeof(mb->local), &n, &t))
			return mp_lex_fail(lx, "local part too long");
	}
	if (!words)
		return mp_lex_fail(lx, "empty local part");
	return parse_domain(lx, mb->domain);
}

/* After '<': [obs-route] addr-spec ">". */
static bool
parse_angle(struct mp_lex *lx, struct mp_mailbox *mb)
{
	struct tok t;

	if (!peek(lx, &t))
		return false;
	if (is_special(&t, '@') || is_special(&t, ',')) {
		/*
		 * obs-route: *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
		 * ":". The route is skipped: only the addr-spec matters.
		 */
		bool domain = false;

		for (;;) {
			if (!next(lx, &t))
				return false;
			if (is_special(&t, ','))
				continue;
			if (is_special(&t, '@')) {
				if (!parse_domain(lx, NULL))
					return false;
				domain = true;
				continue;
			}
			if (is_special(&t, ':') && domain)
				break;
			return mp_lex_fail(lx, "bad route");
		}
	}
	if (!parse_addr_spec(lx, mb))
		return false;
	if (!next(lx, &t))
		return false;
	if (!is_special(&t, '>'))
		return mp_lex_fail(lx, "unbalanced angle bracket");
	return true;
}

static bool parse_group(struct mp_lex *, struct mp_from *);

/*
 * One address: a name-addr, an addr-spec, or (outside a group) a group.
 * The leading words are scanned once to find what follows them, and an
 * addr-spec is then read again from its start.
 */
static bool
parse_address(struct mp_lex *lx, struct mp_from *out, bool in_group)
{
	struct mp_lex start = *lx;
	size_t words = 0;
	struct tok t;

	for (;;) {
		if (!next(lx, &t))
			return false;
		if (t.type == T_ATOM || t.type == T_QSTR) {
			words++;
			continue;
		}
		if (is_special(&t, '.'))
			continue;               /* obs-phrase: "John Q. Public" */
		break;
	}
	if (is_special(&t, '<') || is_special(&t, '@')) {
		if (out->count >= MP_FROM_MAX_ADDRS)
			return mp_lex_fail(lx, "too many addresses");
		struct mp_mailbox *mb = &out->addr[out->count];
		if (is_special(&t, '<')) {
			if (!parse_angle(lx, mb))
				return false;
		} else {
			*lx = start;
			if (!parse_addr_spec(lx, mb))
				return false;
		}
		out->count++;
		return true;
	}
	if (is_special(&t, ':')) {
		if (in_group)
			return mp_lex_fail(lx, "group inside a group");
		if (words == 0)
			return mp_lex_fail(lx, "group without a name");
		return parse_group(lx, out);
	}
	if (t.type == T_DLIT)
		return mp_lex_fail(lx, "domain literal outside an address");
	if (words > 0 && (t.type == T_END || is_special(&t, ',') || is_special(&t, ';')))
		return mp_lex_fail(lx, "address without @");
	return mp_lex_fail(lx, "unexpected character");
}

/* After "name:": [group-list] ";". */
static bool
parse_group(struct mp_lex *lx, struct mp_from *out)
{
	struct tok t;

	for (;;) {
		if (!peek(lx, &t))
			return false;
		if (is_special(&t, ';')) {
			(void)next(lx, &t);
			return true;
		}
		if (is_special(&t, ',')) {
			(void)next(lx, &t);
			continue;
		}
		if (t.type == T_END)
			return mp_lex_fail(lx, "unterminated group");
		if (!parse_address(lx, out, true))
			return false;
		if (!peek(lx, &t))
			return false;
		if (!is_special(&t, ',') && !is_special(&t, ';'))
			return mp_lex_fail(lx, t.type == T_END ? "unterminated group" :
			    "unexpected text after an address");
	}
}

static bool
parse_list(struct mp_lex *lx, struct mp_from *out)
{
	struct tok t;
	bool any = false;

	for (;;) {
		if (!peek(lx, &t))
			return false;
		if (t.type == T_END)
			break;
		any = true;
		if (is_special(&t, ',')) {
			(void)next(lx, &t);
			continue;
		}
		if (!parse_address(lx, out, false))
			return false;
		if (!peek(lx, &t))
			return false;
		if (t.type != T_END && !is_special(&t, ','))
			return mp_lex_fail(lx, "unexpected text after an address");
	}
	if (out->count == 0)
		return mp_lex_fail(lx, any ? "no mailbox" : "empty value");
	return true;
}

bool
mp_from_parse(const char *value, size_t len, struct mp_from *out, const char **why_r)
{
	struct mp_lex lx = { value, value, NULL };
	bool ok;

	memset(out, 0, sizeof(*out));
	if (value == NULL || len == 0)
		ok = mp_lex_fail(&lx, "empty value");
	else if (len > MP_FROM_MAX_LEN)
		ok = mp_lex_fail(&lx, "value too long");
	else if (memchr(value, '\0', len) != NULL)
		ok = mp_lex_fail(&lx, "NUL byte");
	else {
		lx.end = value + len;
		ok = parse_list(&lx, out);
	}
	if (!ok) {
		/* A partial list must never be mistaken for the answer. */
		out->count = 0;
		if (why_r != NULL)
			*why_r = lx.why != NULL ? lx.why : "syntax error";
	}
	return ok;
}

size_t
mp_from_domains(const struct mp_from *from, const char *domains[MP_FROM_MAX_ADDRS])
{
	size_t n = 0;

	for (size_t i = 0; i < from->count && i < MP_FROM_MAX_ADDRS; i++) {
		const char *d = from->addr[i].domain;
		size_t j;

		for (j = 0; j < n; j++)
			if (strcmp(domains[j], d) == 0)
				break;
		if (j == n)
			domains[n++] = d;
	}
	return n;
}
