/*
 * spf: RFC 7208 check_host() with libspf2 doing the evaluation and our
 * own DNS layer (over dns.c) under it. This file holds check_host() and
 * the public checks; the other parts of the module (spf_*.c) are listed
 * in spf_int.h.
 *
 * libspf2 1.2.10 gets a number of things wrong that a plain DNS layer
 * could not fix, so this module does more than feed it answers:
 *
 *  - It fetches and selects every SPF record itself (the top record here,
 *    the records of include and redirect targets through the get_spf hook
 *    of the DNS layer), and validates each against the RFC 7208 section 12
 *    ABNF before libspf2 compiles it. libspf2 accepts many malformed
 *    records (bad top labels, non-ASCII bytes, control characters, "%"
 *    not followed by a valid macro, unknown modifiers with bad names,
 *    duplicate redirect/exp, ...), and it reports a syntax error and a
 *    missing record alike as SPF_E_NOT_SPF.
 *  - It counts the DNS-querying terms over the whole evaluation. libspf2
 *    counts per record: its counter restarts inside every include, so an
 *    include chain is never stopped at 10, and it lets the 11th lookup
 *    happen before it checks.
 *  - It counts void lookups (RFC 7208 4.6.4); libspf2 has no such limit.
 *  - It applies the MX and PTR name limits the RFC 7208 way: more than 10
 *    MX names is a permerror, more than 10 PTR names are cut to 10 (libspf2
 *    gives permerror for PTR too, although the sender does not control the
 *    PTR records of the client).
 *  - A PTR name (ptr mechanism, %{p}) that does not exist just does not
 *    match. A timeout in the ptr and %{p} lookups ends the check with
 *    temperror at once (RFC 7208 5.5 would skip the name, and a sender's
 *    zone that never answers would then hold the check until the deadline,
 *    spending the DMARC lookup's budget); other failures there
 *    are skipped as RFC 7208 5.5 says, counted as void lookups. libspf2
 *    turns all of them into temperror.
 *  - It expands domain-specs with ',' or '/' delimiters or an 'R'
 *    transformer itself (RFC 7208 7.1 allows them; libspf2 refuses them):
 *    see MACRO_MARK.
 *  - It bypasses libspf2's "localhost always passes" rule by calling
 *    SPF_record_interpret() directly.
 *  - It keeps a deadline: once it has passed, every lookup fails and the
 *    result is temperror.
 *  - It fetches and expands the exp= text itself (get_exp hook): exactly
 *    one TXT record, ASCII only, valid macros, else no explanation (RFC
 *    7208 6.2), never counted as a lookup. libspf2 takes the first of
 *    several records, and its expansion of such a text leaves the macros
 *    literal and turns spaces into '%'.
 *  - It rewrites the copy of each record that libspf2 compiles
 *    (spf_libspf2_copy()): libspf2 refuses prefix lengths of 0 and unknown
 *    modifiers with '-', '_' or '.' in their names, and follows redirect=
 *    even when the record has "all".
 *  - It truncates expanded names over 253 bytes on the left (RFC 7208
 *    7.3), unescapes MX and PTR target names, and answers a name that
 *    cannot exist (bad top label, empty label) as NXDOMAIN.
 *
 * How our layer stops libspf2: when it decides the result (a limit, a
 * syntax error, a DNS failure) it records that result in the per-check
 * state and answers this and every later lookup with TRY_AGAIN, so that
 * libspf2 unwinds with a temporary error; the recorded result then
 * replaces whatever libspf2 returned. Since libspf2 evaluates terms
 * strictly left to right and asks the DNS layer at the moment it reaches
 * a term, an error is only raised when the evaluation really gets there.
 *
 * Per-check state: the lookup callback of libspf2 gets no request
 * context, so every check builds its own SPF_server_t over its own DNS
 * layer whose hook points to the state. SPF_server_new_dns with
 * SPF_server_free costs about 0.5 microseconds (measured over 10000
 * rounds), nothing next to one DNS round trip, and it keeps checks in
 * different threads fully apart without thread-local globals.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

const char *
mp_spf_result_str(enum mp_spf_result r)
{
	switch (r) {
	case MP_SPF_NONE:      return "none";
	case MP_SPF_NEUTRAL:   return "neutral";
	case MP_SPF_PASS:      return "pass";
	case MP_SPF_FAIL:      return "fail";
	case MP_SPF_SOFTFAIL:  return "softfail";
	case MP_SPF_TEMPERROR: return "temperror";
	case MP_SPF_PERMERROR: return "permerror";
	}
	return "permerror";
}

struct mp_spf *
mp_spf_new(struct mp_dns *dns)
{
	struct mp_spf *spf = xcalloc(1, sizeof(*spf));

	spf->dns = dns;
	return spf;
}

void
mp_spf_free(struct mp_spf **spfp)
{
	if (spfp == NULL || *spfp == NULL)
		return;
	free(*spfp);
	*spfp = NULL;
}

/* ------------------------------------------------------------------ */
/* check_host()                                                         */

/*
 * The client address, parsed by netaddr. An IPv4-mapped IPv6 address is
 * the IPv4 client it stands for.
 */
static bool
parse_client(const char *ip, struct client *c)
{
	memset(c, 0, sizeof(*c));
	if (ip == NULL || !mp_netaddr_parse(ip, strlen(ip), &c->addr))
		return false;
	if (mp_netaddr_is_ipv4(&c->addr)) {
		c->family = AF_INET;
		memcpy(&c->v4, &c->addr.a[12], 4);
	} else {
		c->family = AF_INET6;
		memcpy(&c->v6, c->addr.a, 16);
	}
	return true;
}

/*
 * Does an ip4:, ip6: or all term match the client? (Record already
 * valid.) An ip4 term holds IPv4 clients only, an ip6 term IPv6 clients
 * only; bits set past the prefix length are allowed (RFC 7208 5.6) and
 * ignored.
 */
static bool
plain_term_matches(const struct term *t, const struct client *c)
{
	struct mp_netprefix net;
	const char *slash;
	bool v4 = name_is(t, "ip4");

	if (name_is(t, "all"))
		return true;
	if (!v4 && !name_is(t, "ip6"))
		return false;
	slash = memchr(t->arg + 1, '/', t->arg_len - 1);
	if (!mp_netaddr_parse(t->arg + 1, slash ? (size_t)(slash - (t->arg + 1)) : t->arg_len - 1,
	    &net.addr) || (net.addr.family == AF_INET) != v4 || (c->family == AF_INET) != v4)
		return false;
	net.len = slash ? (unsigned)atoi(slash + 1) : v4 ? 32 : 128;
	if (v4)
		net.len += 96;  /* the 128-bit form of an IPv4 network */
	return mp_netprefix_match(&net, &c->addr);
}

static enum mp_spf_result
qual_result(char q)
{
	switch (q) {
	case '-': return MP_SPF_FAIL;
	case '~': return MP_SPF_SOFTFAIL;
	case '?': return MP_SPF_NEUTRAL;
	default:  return MP_SPF_PASS;
	}
}

/*
 * Which term of the top record produced a mechanism result: libspf2 does
 * not say. The evaluation stops at the match, so the match is either the
 * last DNS-querying term it evaluated or a later ip4/ip6/all term that
 * matches the client with the right qualifier.
 */
static void
describe_match(const struct spf_eval *ev, const char *record, const struct client *c,
    enum mp_spf_result r, char *out, size_t outlen)
{
	const char *cand = NULL, *found = NULL;
	size_t cand_len = 0, found_len = 0;
	int seen = 0;
	struct mp_buf b = MP_BUF_INIT;
	struct term_iter it;
	struct term t;

	spf_terms_init(&it, record, strlen(record));
	while (spf_term_next(&it, &t)) {
		if (t.modifier)
			continue;
		if (spf_term_is_dns(&t)) {
			if (++seen == ev->top_terms && qual_result(t.qual) == r) {
				cand = t.text;
				cand_len = t.len;
			}
			continue;
		}
		if (seen < ev->top_terms)
			continue;
		if (qual_result(t.qual) == r && plain_term_matches(&t, c)) {
			found = t.text;
			found_len = t.len;
			break;
		}
	}
	if (cand != NULL) {
		mp_buf_puts(&b, "matched \"");
		mp_printable(&b, cand, cand_len, MP_SHOW_TERM);
		if (found != NULL) {
			mp_buf_puts(&b, "\" or \"");
			mp_printable(&b, found, found_len, MP_SHOW_TERM);
		}
		mp_buf_puts(&b, "\"");
	} else if (found != NULL) {
		mp_buf_puts(&b, "matched \"");
		mp_printable(&b, found, found_len, MP_SHOW_TERM);
		mp_buf_puts(&b, "\"");
	} else
		mp_buf_puts(&b, "matched a term");
	mp_buf_printf(&b, " in the SPF record of %s", ev->top_domain);
	mp_strlcpy(out, mp_buf_str(&b), outlen);
	mp_buf_free(&b);
}

void
spf_set_text(char *dst, size_t dstlen, const char *src)
{
	(void)mp_printable_copy(dst, dstlen, src, strlen(src));
}

static enum mp_spf_result
finish(struct mp_spf_outcome *out, enum mp_spf_result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum mp_spf_result
finish(struct mp_spf_outcome *out, enum mp_spf_result r, const char *fmt, ...)
{
	va_list ap;

	out->result = r;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * The result libspf2 came to, when our layer did not decide it: its
 * errors mapped onto the RFC 7208 results, and for a match the term
 * that matched and the explanation.
 */
static enum mp_spf_result
response_result(const struct spf_eval *ev, SPF_response_t *resp, const char *record,
    struct mp_spf_outcome *out)
{
	enum mp_spf_result r;

	switch (SPF_response_result(resp)) {
	case SPF_RESULT_PASS:
	case SPF_RESULT_FAIL:
	case SPF_RESULT_SOFTFAIL:
	case SPF_RESULT_NEUTRAL:
		r = SPF_response_result(resp) == SPF_RESULT_PASS ? MP_SPF_PASS :
		    SPF_response_result(resp) == SPF_RESULT_FAIL ? MP_SPF_FAIL :
		    SPF_response_result(resp) == SPF_RESULT_SOFTFAIL ? MP_SPF_SOFTFAIL : MP_SPF_NEUTRAL;
		out->result = r;
		if (SPF_response_reason(resp) == SPF_REASON_DEFAULT)
			finish(out, r,
			    "no term of the SPF record of %s matched: default result neutral", out->domain);
		else if (ev->saw_include)
			finish(out, r,
			    "%s through the SPF record of %s and its includes or redirect "
			    "(last DNS-querying term evaluated: %s)",
			    mp_spf_result_str(r), out->domain, ev->last_term);
		else
			describe_match(ev, record, &ev->client, r, out->reason, sizeof(out->reason));
		if (r == MP_SPF_FAIL && ev->exp_ok && resp->explanation != NULL &&
		    strncmp(resp->explanation, ev->exp_text, sizeof(ev->exp_text) - 1) == 0)
			spf_set_text(out->explanation, sizeof(out->explanation), resp->explanation);
		break;
	case SPF_RESULT_TEMPERROR:
		r = finish(out, MP_SPF_TEMPERROR, "libspf2: %s", SPF_strerror(SPF_response_errcode(resp)));
		break;
	case SPF_RESULT_INVALID:
		if (SPF_response_errcode(resp) == SPF_E_DNS_ERROR) {
			r = finish(out, MP_SPF_TEMPERROR, "libspf2: DNS error");
			break;
		}
		/* FALLTHROUGH */
	case SPF_RESULT_PERMERROR:
	case SPF_RESULT_NONE:
	default:
		r = finish(out, MP_SPF_PERMERROR, "libspf2: %s", SPF_strerror(SPF_response_errcode(resp)));
		break;
	}
	return r;
}

/*
 * check_host(ip, domain, local@domain). helo is the HELO name for %{h};
 * helo_identity says which identity is checked.
 */
static enum mp_spf_result
check_host(struct mp_spf *spf, const struct mp_deadline *deadline, const char *ip,
    const char *helo, const char *local, const char *domain, bool helo_identity,
    struct mp_spf_outcome *out)
{
	struct spf_eval *ev;
	struct client client;
	struct fetched f;
	SPF_response_t *resp;
	SPF_record_t *rec = NULL;
	SPF_errcode_t err;
	const char *why;
	char *copy;
	enum mp_spf_result r;

	if (!parse_client(ip, &client))
		return finish(out, MP_SPF_NONE, "not checked: the client address is not an IP address");
	if (!spf_identity_domain_ok(domain, out->domain, &why)) {
		out->domain[0] = '\0';
		return finish(out, MP_SPF_NONE, "not checked: %s", why);
	}
	if (mp_deadline_expired(deadline))
		return finish(out, MP_SPF_TEMPERROR, "deadline passed before the check started");

	spf_fetch_record(spf->dns, deadline, out->domain, &f);
	switch (f.status) {
	case FETCH_OK:
		break;
	case FETCH_NONE:
		return finish(out, MP_SPF_NONE, "no SPF record (%s)", f.why);
	case FETCH_PERM:
		return finish(out, MP_SPF_PERMERROR, "%s", f.why);
	case FETCH_TEMP:
		return finish(out, MP_SPF_TEMPERROR, "%s", f.why);
	}

	ev = spf_eval_new(spf->dns, deadline, &client, local, out->domain, helo, helo_identity);
	resp = SPF_response_new(ev->req);
	if (resp == NULL)
		spf_oom();
	copy = spf_libspf2_copy(f.text, client.family);
	err = SPF_record_compile(ev->server, resp, &rec, copy);
	free(copy);
	if (err != SPF_E_SUCCESS) {
		r = finish(out, MP_SPF_PERMERROR, "libspf2 could not compile the record of %s: %s",
		    out->domain, SPF_strerror(err));
		if (rec != NULL)
			SPF_record_free(rec);
	} else {
		/* Not SPF_request_query_mailfrom: it passes 127/8 and ::1 unchecked. */
		resp->spf_record_exp = rec;
		SPF_record_interpret(rec, ev->req, resp, 0);
		SPF_record_free(rec);
		if (ev->decided)
			r = finish(out, ev->result, "%s", ev->why);
		else
			r = response_result(ev, resp, f.text, out);
	}
	SPF_response_free(resp);
	spf_eval_free(&ev);
	spf_fetched_clear(&f);
	return r;
}

static void
outcome_init(struct mp_spf_outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->result = MP_SPF_NONE;
}

enum mp_spf_result
mp_spf_check_helo(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *ip, const char *helo, struct mp_spf_outcome *out)
{
	struct mp_spf_outcome local;

	if (out == NULL)
		out = &local;
	outcome_init(out);
	if (helo == NULL)
		helo = "";
	spf_set_text(out->identity, sizeof(out->identity), helo);
	return check_host(spf, deadline, ip, helo, "postmaster", helo, true, out);
}

/* mail_from without the angle brackets an MTA may leave around it. */
static void
strip_brackets(const char **mail_from, size_t *len)
{
	*len = strlen(*mail_from);
	if (*len >= 2 && (*mail_from)[0] == '<' && (*mail_from)[*len - 1] == '>') {
		(*mail_from)++;
		*len -= 2;
	}
}

void
mp_spf_mailfrom_domain(const char *mail_from, const char *helo, char *out, size_t outlen)
{
	const char *at;
	size_t len;

	if (mail_from == NULL)
		mail_from = "";
	strip_brackets(&mail_from, &len);
	if (len == 0) {
		if (!mp_strlcpy(out, helo != NULL ? helo : "", outlen) && outlen > 0)
			out[0] = '\0';
		return;
	}
	at = memrchr(mail_from, '@', len);
	if (at == NULL || (size_t)(mail_from + len - (at + 1)) >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	memcpy(out, at + 1, (size_t)(mail_from + len - (at + 1)));
	out[mail_from + len - (at + 1)] = '\0';
}

enum mp_spf_result
mp_spf_check_mailfrom(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *ip, const char *helo, const char *mail_from, struct mp_spf_outcome *out)
{
	struct mp_spf_outcome local;
	const char *at;
	char *addr, *lp;
	size_t len;
	enum mp_spf_result r;

	if (out == NULL)
		out = &local;
	outcome_init(out);
	if (helo == NULL)
		helo = "";
	if (mail_from == NULL)
		mail_from = "";
	strip_brackets(&mail_from, &len);
	addr = len == 0 ? xasprintf("postmaster@%s", helo) : xstrndup(mail_from, len);
	spf_set_text(out->identity, sizeof(out->identity), addr);
	/* The domain is what follows the last '@': a quoted local part may
	 * hold '@' itself ("a@victim"@attacker is attacker's). For the null
	 * sender it is the whole HELO name (RFC 7208 2.4), never split: a
	 * HELO holding '@' names no domain and gives none. */
	at = len == 0 ? addr + strlen("postmaster") : strrchr(addr, '@');
	if (at == NULL) {
		/*
		 * A sender without a domain (Postfix accepts <name> and
		 * qualifies it later) names no domain to check: none. The
		 * HELO name is not taken instead, or a client could check
		 * one domain and claim another.
		 */
		r = finish(out, MP_SPF_NONE, "not checked: MAIL FROM has no domain");
		free(addr);
		return r;
	}
	/* RFC 7208 4.3: an empty local part is "postmaster" */
	lp = at == addr ? xstrdup("postmaster") : xstrndup(addr, (size_t)(at - addr));
	r = check_host(spf, deadline, ip, helo, lp, at + 1, false, out);
	/* The one identity DMARC may align: the domain check_host ran on. */
	mp_strlcpy(out->dmarc_domain, out->domain, sizeof(out->dmarc_domain));
	free(lp);
	free(addr);
	return r;
}
