/*
 * spf_copy: the copy of a valid record that libspf2 compiles, rewritten
 * around what libspf2 cannot parse or gets wrong.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

/* A modifier: exp= and (without "all") redirect= are kept, marked when needed. */
static void
copy_modifier(struct mp_buf *b, const struct term *t, bool has_all)
{
	if (!name_is(t, "exp") && !(name_is(t, "redirect") && !has_all))
		return;
	mp_buf_putc(b, ' ');
	if (spf_spec_needs_marking(t->arg, t->arg_len)) {
		mp_buf_append(b, t->name, t->name_len);
		mp_buf_putc(b, '=');
		spf_spec_mark(b, t->arg, t->arg_len, false);
	} else
		mp_buf_append(b, t->text, t->len);
}

/* a or mx with a prefix length: only this family's, 0 through CIDR0_MARK. */
static bool
copy_dual_cidr(struct mp_buf *b, const struct term *t, int family)
{
	size_t dlen;
	int c4, c6, eff;
	const char *why;

	if (!(name_is(t, "a") || name_is(t, "mx")) ||
	    !spf_split_dual_cidr(t->arg, t->arg_len, &dlen, &c4, &c6, &why) ||
	    !(c4 >= 0 || c6 >= 0))
		return false;
	eff = family == AF_INET ? c4 : c6;
	mp_buf_putc(b, t->qual);
	mp_buf_append(b, t->name, t->name_len);
	mp_buf_putc(b, ':');
	if (dlen > 1 && spf_spec_needs_marking(t->arg + 1, dlen - 1))
		spf_spec_mark(b, t->arg + 1, dlen - 1, false);
	else if (dlen > 0)
		mp_buf_append(b, t->arg + 1, dlen - 1);
	else
		mp_buf_puts(b, "%{d}");
	if (eff == 0)
		mp_buf_puts(b, CIDR0_MARK);
	else if (eff > 0)
		mp_buf_printf(b, family == AF_INET ? "/%d" : "//%d", eff);
	return true;
}

/* A mechanism, as libspf2 can take it. */
static void
copy_mechanism(struct mp_buf *b, const struct term *t, int family)
{
	mp_buf_putc(b, ' ');
	if (copy_dual_cidr(b, t, family))
		return;
	if ((name_is(t, "ip4") || name_is(t, "ip6")) && t->arg_len >= 2 &&
	    memcmp(t->arg + t->arg_len - 2, "/0", 2) == 0) {
		if (name_is(t, "ip4"))
			mp_buf_printf(b, "%cip4:0.0.0.0/1 %cip4:128.0.0.0/1", t->qual, t->qual);
		else
			mp_buf_printf(b, "%cip6:::/1 %cip6:8000::/1", t->qual, t->qual);
		return;
	}
	if ((name_is(t, "a") || name_is(t, "mx") || name_is(t, "ptr") ||
	    name_is(t, "include") || name_is(t, "exists")) &&
	    t->arg_len > 1 && t->arg[0] == ':' && spf_spec_needs_marking(t->arg + 1, t->arg_len - 1)) {
		/* ptr becomes exists: see spf_ptr_emulate() */
		mp_buf_putc(b, t->qual);
		if (name_is(t, "ptr"))
			mp_buf_puts(b, "exists");
		else
			mp_buf_append(b, t->name, t->name_len);
		mp_buf_putc(b, ':');
		spf_spec_mark(b, t->arg + 1, t->arg_len - 1, name_is(t, "ptr"));
		return;
	}
	mp_buf_append(b, t->text, t->len);
}

/*
 * What libspf2 cannot parse or gets wrong, rewritten into an equivalent
 * record for this client's address family (the record is already valid):
 *  - unknown modifiers are dropped (libspf2 refuses "-", "_" and "." in
 *    their names; RFC 7208 6 says to ignore them);
 *  - redirect= is dropped when the record has an "all" mechanism (RFC
 *    7208 6.1; libspf2 follows it anyway);
 *  - prefix lengths of 0, see CIDR0_MARK; ip4:x/0 and ip6:x/0 become two
 *    /1 networks that cover everything;
 *  - the prefix length of the other address family is dropped;
 *  - a domain-spec with a ',' or '/' delimiter or an 'R' transformer is
 *    marked, and expanded by our layer (see MACRO_MARK).
 */
char *
spf_libspf2_copy(const char *record, int family)
{
	struct mp_buf b = MP_BUF_INIT;
	size_t len = strlen(record);
	bool has_all = false;
	struct term_iter it;
	struct term t;

	spf_terms_init(&it, record, len);
	while (spf_term_next(&it, &t))
		if (!t.modifier && name_is(&t, "all"))
			has_all = true;
	mp_buf_puts(&b, "v=spf1");
	spf_terms_init(&it, record, len);
	while (spf_term_next(&it, &t)) {
		if (t.modifier)
			copy_modifier(&b, &t, has_all);
		else
			copy_mechanism(&b, &t, family);
	}
	return mp_buf_steal(&b);
}
