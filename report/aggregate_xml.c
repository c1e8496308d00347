/*
 * aggregate_xml: one aggregate report as an RFC 9990 document, printed
 * by hand with one escaping function (agg_xml_escape) for every value
 * that is not our own constant; its report id, file name and gzip form.
 *
 * The documents validate against the schema kept in tests/xsd/ (the
 * one the tests run xmllint with): elements that schema does not know
 * are not written.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include <openssl/evp.h>

#include "aggregate_int.h"

#define XMLNS "urn:ietf:params:xml:ns:dmarc-2.0"

/* ---- escaping ----------------------------------------------------------- */

/*
 * The length of the UTF-8 sequence at s (n bytes left) when it is one
 * that XML 1.0 allows: shortest form, no surrogate, at most U+10FFFF,
 * not U+FFFE or U+FFFF. 0 otherwise.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned long cp;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return 0;
	return len;
}

void
agg_xml_escape(struct mp_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		size_t len;

		switch (*p) {
		case '&': mp_buf_puts(out, "&amp;"); break;
		case '<': mp_buf_puts(out, "&lt;"); break;
		case '>': mp_buf_puts(out, "&gt;"); break;
		case '"': mp_buf_puts(out, "&quot;"); break;
		case '\'': mp_buf_puts(out, "&apos;"); break;
		default:
			if (*p < 0x80) {
				bool ok = *p >= 0x20 ? *p != 0x7f : *p == '\t' || *p == '\n';

				mp_buf_putc(out, ok ? (char)*p : '?');
			} else if ((len = utf8_len(p, n)) > 0) {
				mp_buf_append(out, p, len);
				p += len - 1;
				n -= len - 1;
			} else {
				mp_buf_putc(out, '?');
			}
			break;
		}
		p++;
		n--;
	}
}

/* <name>value</name> on a line of its own, at depth levels of indent. */
static void
el(struct mp_buf *out, int depth, const char *name, const char *value)
{
	mp_buf_printf(out, "%*s<%s>", depth * 2, "", name);
	agg_xml_escape(out, value);
	mp_buf_printf(out, "</%s>\n", name);
}

static void
el_ll(struct mp_buf *out, int depth, const char *name, long long v)
{
	mp_buf_printf(out, "%*s<%s>%lld</%s>\n", depth * 2, "", name, v, name);
}

static void
open_el(struct mp_buf *out, int depth, const char *name)
{
	mp_buf_printf(out, "%*s<%s>\n", depth * 2, "", name);
}

static void
close_el(struct mp_buf *out, int depth, const char *name)
{
	mp_buf_printf(out, "%*s</%s>\n", depth * 2, "", name);
}

/* ---- names -------------------------------------------------------------- */

/* Appends s and its NUL: no field can run into the next. */
static void
id_field(struct mp_buf *b, const char *s)
{
	mp_buf_append(b, s, strlen(s) + 1);
}

void
agg_report_id(const struct agg_conf *c, struct agg_report *r)
{
	struct mp_buf in = MP_BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n;

	/* A strong hash: the once-only markers hang on the id, so a domain
	 * made to share another's id (a 32-bit hash is searched through in
	 * seconds) would have that domain's report taken for sent. */
	id_field(&in, c->submitter);
	id_field(&in, r->domain);
	id_field(&in, r->day);
	id_field(&in, r->pid);
	id_field(&in, r->policy_text != NULL ? r->policy_text : "");
	/* It fails only out of memory, where xmalloc aborts too. */
	if (EVP_Digest(in.data, in.len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < AGG_ID_HASH_BYTES)
		abort();
	mp_buf_free(&in);
	/* The day first, for people reading logs and marker keys. */
	n = (size_t)snprintf(r->id, sizeof(r->id), "%.8s", r->day);
	for (size_t i = 0; i < AGG_ID_HASH_BYTES; i++, n += 2)
		snprintf(r->id + n, sizeof(r->id) - n, "%02x", md[i]);
}

void
agg_file_name(const struct agg_conf *c, const struct agg_report *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s!%s!%lld!%lld!%s.xml.gz", c->submitter, r->domain,
	    (long long)r->begin, (long long)r->end, r->id);
}

/* ---- the document -------------------------------------------------------- */

static void
metadata(const struct agg_conf *c, const struct agg_report *r, struct mp_buf *out)
{
	open_el(out, 1, "report_metadata");
	el(out, 2, "org_name", c->org_name);
	el(out, 2, "email", c->email);
	if (c->extra_contact_info[0] != '\0')
		el(out, 2, "extra_contact_info", c->extra_contact_info);
	el(out, 2, "report_id", r->id);
	open_el(out, 2, "date_range");
	el_ll(out, 3, "begin", (long long)r->begin);
	el_ll(out, 3, "end", (long long)r->end);
	close_el(out, 2, "date_range");
	/* The schema allows one error element: both counts go in it. */
	if (r->overflow > 0 || r->unreadable > 0) {
		char text[256];

		if (r->overflow > 0 && r->unreadable > 0)
			snprintf(text, sizeof(text), "%lld messages left out: past the receiver's "
			    "limit of distinct rows; %lld messages left out: rows that could not be "
			    "read", r->overflow, r->unreadable);
		else if (r->overflow > 0)
			snprintf(text, sizeof(text), "%lld messages left out: past the receiver's "
			    "limit of distinct rows", r->overflow);
		else
			snprintf(text, sizeof(text), "%lld messages left out: rows that could not "
			    "be read", r->unreadable);
		el(out, 2, "error", text);
	}
	close_el(out, 1, "report_metadata");
}

/* Tags a record leaves out have their defaults: sp is p's (RFC 9989),
 * fo is 0. */
static void
policy_published(const struct agg_report *r, struct mp_buf *out)
{
	const struct mp_report_policy *p = &r->policy;
	char a[2] = { p->adkim, '\0' }, s[2] = { p->aspf, '\0' }, t[2] = { p->testing, '\0' };

	open_el(out, 1, "policy_published");
	el(out, 2, "domain", r->domain);
	el(out, 2, "discovery_method", "treewalk");
	el(out, 2, "p", p->p);
	el(out, 2, "sp", p->sp[0] ? p->sp : p->p);
	/* fo's value is not kept by the record parser, only that it was
	 * given: an explicit fo is left out rather than guessed. */
	if (!p->fo_present)
		el(out, 2, "fo", "0");
	el(out, 2, "adkim", a);
	el(out, 2, "aspf", s);
	el(out, 2, "testing", t);
	close_el(out, 1, "policy_published");
}

static void
policy_evaluated(const struct mp_report_row *w, struct mp_buf *out)
{
	open_el(out, 3, "policy_evaluated");
	el(out, 4, "disposition", w->disposition);
	el(out, 4, "dkim", w->dkim_aligned ? "pass" : "fail");
	el(out, 4, "spf", w->spf_aligned ? "pass" : "fail");
	if (w->local_policy) {
		open_el(out, 4, "reason");
		el(out, 5, "type", "local_policy");
		close_el(out, 4, "reason");
	}
	if (w->testing) {
		open_el(out, 4, "reason");
		el(out, 5, "type", "other");
		el(out, 5, "comment", "policy_test_mode: t=y lowered the disposition one step");
		close_el(out, 4, "reason");
	}
	close_el(out, 3, "policy_evaluated");
}

static void
record(const struct mp_report_row *w, long long count, struct mp_buf *out)
{
	open_el(out, 1, "record");
	open_el(out, 2, "row");
	el(out, 3, "source_ip", w->ip);
	el_ll(out, 3, "count", count);
	policy_evaluated(w, out);
	close_el(out, 2, "row");
	open_el(out, 2, "identifiers");
	el(out, 3, "header_from", w->header_from);
	el(out, 3, "envelope_from", w->envelope_from);
	close_el(out, 2, "identifiers");
	open_el(out, 2, "auth_results");
	for (size_t i = 0; i < w->ndkim; i++) {
		open_el(out, 3, "dkim");
		el(out, 4, "domain", w->dkim[i].domain);
		el(out, 4, "selector", w->dkim[i].selector);
		el(out, 4, "result", w->dkim[i].result);
		close_el(out, 3, "dkim");
	}
	open_el(out, 3, "spf");
	el(out, 4, "domain", w->spf_domain);
	el(out, 4, "scope", "mfrom");
	el(out, 4, "result", w->spf);
	close_el(out, 3, "spf");
	close_el(out, 2, "auth_results");
	close_el(out, 1, "record");
}

size_t
agg_xml_document(const struct agg_conf *c, struct agg_report *r, struct mp_buf *out)
{
	struct mp_report_row *w = xmalloc(sizeof(*w));
	struct mp_buf recs = MP_BUF_INIT;
	size_t n = 0;

	/* Records first: a row that cannot be read counts in the error. */
	for (size_t i = 0; i < r->nrows; i++) {
		if (!mp_store_report_row_parse(r->rows[i].row, strlen(r->rows[i].row), w)) {
			r->unreadable += r->rows[i].count;
			continue;
		}
		record(w, r->rows[i].count, &recs);
		n++;
	}
	mp_buf_reset(out);
	mp_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	mp_buf_puts(out, "<feedback xmlns=\"" XMLNS "\">\n");
	el(out, 1, "version", "1.0");
	metadata(c, r, out);
	policy_published(r, out);
	mp_buf_append(out, recs.data, recs.len);
	mp_buf_puts(out, "</feedback>\n");
	mp_buf_free(&recs);
	free(w);
	return n;
}

/* ---- gzip ------------------------------------------------------------------ */

bool
agg_gzip(const void *in, size_t len, struct mp_buf *out)
{
	z_stream zs;
	uLong bound;
	unsigned char *buf;
	bool ok;

	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: a gzip wrapper, with no name and time 0. */
	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	bound = deflateBound(&zs, (uLong)len);
	buf = xmalloc(bound);
	zs.next_in = in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	ok = deflate(&zs, Z_FINISH) == Z_STREAM_END;
	if (ok) {
		mp_buf_reset(out);
		mp_buf_append(out, buf, zs.total_out);
	}
	deflateEnd(&zs);
	free(buf);
	return ok;
}
