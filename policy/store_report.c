/*
 * store_report: the aggregate report's capture (store_report.h). The
 * writer thread turns a record into a row, a policy text and the keys
 * they count under; mailposture-report parses them back with the same
 * rules.
 */
#include "config.h"

#include <arpa/inet.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_report.h"

/* ---- options ----------------------------------------------------------- */

void
mp_store_report_options_from_conf(const struct mp_conf *c, struct mp_store_options *o)
{
	const char *from = mp_conf_str(c, "report", "from");

	o->report_max_rows = mp_conf_int(c, "report", "max_rows");
	mp_strlcpy(o->report_from, from[0] ? from : mp_conf_str(c, "report", "email"),
	    sizeof(o->report_from));
}

/* ---- words ------------------------------------------------------------- */

unsigned long
mp_store_report_hash(const void *p, size_t len, unsigned long h)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h = (h * 16777619UL) & 0xffffffffUL;
	}
	return h;
}

void
mp_store_report_pid(const char *text, size_t len, char pid[MP_REPORT_PID_LEN + 1])
{
	snprintf(pid, MP_REPORT_PID_LEN + 1, "%08lx",
	    mp_store_report_hash(text, len, MP_REPORT_HASH_INIT));
}

bool
mp_store_report_pid_ok(const char *s, size_t len)
{
	if (len != MP_REPORT_PID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool
word_byte_ok(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '.' || ch == '-' || ch == '_' || ch == ':';
}

/*
 * One word of a row: what a row holds is names, an address and result
 * words, so anything else (a hostile selector) becomes '_' and can never
 * split the row or reach the XML as markup.
 */
static void
put_word(struct mp_buf *b, const char *s)
{
	mp_buf_putc(b, ' ');
	for (; *s; s++)
		mp_buf_putc(b, word_byte_ok((unsigned char)*s) ? *s : '_');
}

/* A domain, "=" when it is the From domain (most rows). */
static void
put_domain(struct mp_buf *b, const char *s, const char *from)
{
	if (s[0] != '\0' && strcmp(s, from) == 0)
		mp_buf_puts(b, " =");
	else
		put_word(b, s);
}

/*
 * The client address as RFC 9990's IPAddress type accepts it: IPv4
 * dotted, IPv6 compressed, an IPv4-mapped address as IPv4. False for
 * anything that is not an address.
 */
static bool
report_ip(const char *in, char out[64])
{
	unsigned char a[16];
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (inet_pton(AF_INET, in, a) == 1)
		return inet_ntop(AF_INET, a, out, 64) != NULL;
	if (inet_pton(AF_INET6, in, a) != 1)
		return false;
	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		return inet_ntop(AF_INET, a + 12, out, 64) != NULL;
	if (inet_ntop(AF_INET6, a, out, 64) == NULL)
		return false;
	/* "::1.2.3.4" (IPv4-compatible) is no form the schema's patterns
	 * take: eight groups always are. */
	if (strchr(out, '.') != NULL || strcmp(out, "::") == 0)
		snprintf(out, 64, "%x:%x:%x:%x:%x:%x:%x:%x", a[0] << 8 | a[1], a[2] << 8 | a[3],
		    a[4] << 8 | a[5], a[6] << 8 | a[7], a[8] << 8 | a[9], a[10] << 8 | a[11],
		    a[12] << 8 | a[13], a[14] << 8 | a[15]);
	return true;
}

/* ---- the row of a record ---------------------------------------------- */

static const char *
applied_word(enum mp_action a)
{
	return a == MP_ACTION_REJECT ? "reject" : a == MP_ACTION_QUARANTINE ? "quarantine" : "none";
}

/* Preference order of RFC 9990 2.1.2: 0 first. */
static int
dkim_rank(const struct mp_store_record *r, const struct mp_store_dkim *k)
{
	if (k->result != MP_DKIM_PASS)
		return 3;
	if (!k->aligned)
		return 2;
	return strcmp(k->domain, r->from_domain) == 0 ? 0 : 1;
}

static void
row_dkim(const struct mp_store_record *r, struct mp_buf *out)
{
	size_t n = 0;

	for (int rank = 0; rank <= 3 && n < MP_REPORT_DKIM_MAX; rank++) {
		for (size_t i = 0; i < r->ndkim && i < MP_DKIM_MAX && n < MP_REPORT_DKIM_MAX; i++) {
			const struct mp_store_dkim *k = &r->dkim[i];

			if (dkim_rank(r, k) != rank)
				continue;
			n++;
			put_domain(out, k->domain, r->from_domain);
			put_word(out, k->selector);
			put_word(out, mp_dkim_result_str(k->result));
		}
	}
}

bool
mp_store_report_row(const struct mp_store_record *r, struct mp_buf *out)
{
	const char *asked = r->disposition == MP_DMARC_P_UNSET ? "none" :
	    mp_dmarc_policy_str(r->disposition);
	const char *applied = applied_word(r->action);
	bool local = strcmp(asked, applied) != 0;
	bool lowered = r->dmarc == MP_DMARC_FAIL && r->rep.testing &&
	    r->disposition != r->policy;
	char ip[64];

	mp_buf_reset(out);
	if (r->rep.policy_domain[0] == '\0' || r->from_domain[0] == '\0' ||
	    (r->dmarc != MP_DMARC_PASS && r->dmarc != MP_DMARC_FAIL) ||
	    r->action == MP_ACTION_TEMPFAIL || !report_ip(r->ip, ip))
		return false;
	mp_buf_puts(out, ip);
	put_word(out, r->from_domain);
	put_domain(out, r->rep.envelope_from, r->from_domain);
	put_domain(out, r->rep.spf_domain, r->from_domain);
	put_word(out, mp_spf_result_str(r->spf));
	put_word(out, r->dkim_aligned ? "1" : "0");
	put_word(out, r->spf_aligned ? "1" : "0");
	put_word(out, applied);
	put_word(out, local && lowered ? "lt" : local ? "l" : lowered ? "t" : "-");
	row_dkim(r, out);
	return true;
}

/* ---- reading a row back ----------------------------------------------- */

/* The next word of a row: [*p, end) up to a space. */
static bool
next_word(const char **p, const char *end, char *dst, size_t dstlen)
{
	const char *q = *p;
	size_t n;

	while (q < end && *q != ' ')
		q++;
	n = (size_t)(q - *p);
	if (n >= dstlen)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!word_byte_ok((unsigned char)(*p)[i]))
			return false;
	memcpy(dst, *p, n);
	dst[n] = '\0';
	*p = q < end ? q + 1 : q;
	return true;
}

/* A domain word: "=" is the From domain. */
static bool
next_domain(const char **p, const char *end, char *dst, size_t dstlen, const char *from)
{
	if (*p < end && **p == '=' && (*p + 1 == end || (*p)[1] == ' ')) {
		*p += *p + 1 < end ? 2 : 1;
		return mp_strlcpy(dst, from, dstlen);
	}
	return next_word(p, end, dst, dstlen);
}

static bool
word_in(const char *w, const char *(*str)(int), int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(w, str(i)) == 0)
			return true;
	return false;
}

static const char *spf_word(int i) { return mp_spf_result_str((enum mp_spf_result)i); }
static const char *dkim_word(int i) { return mp_dkim_result_str((enum mp_dkim_result)i); }

static bool
bit_word(const char *w, bool *b)
{
	if ((w[0] != '0' && w[0] != '1') || w[1] != '\0')
		return false;
	*b = w[0] == '1';
	return true;
}

static bool
reasons_word(const char *w, struct mp_report_row *out)
{
	if (strcmp(w, "-") == 0)
		return true;
	out->local_policy = strchr(w, 'l') != NULL;
	out->testing = strchr(w, 't') != NULL;
	return strcmp(w, "l") == 0 || strcmp(w, "t") == 0 || strcmp(w, "lt") == 0;
}

bool
mp_store_report_row_parse(const char *row, size_t len, struct mp_report_row *out)
{
	const char *p = row, *end = row + len;
	char w[3][16];
	unsigned char a[16];

	memset(out, 0, sizeof(*out));
	if (!next_word(&p, end, out->ip, sizeof(out->ip)) ||
	    (inet_pton(AF_INET, out->ip, a) != 1 && inet_pton(AF_INET6, out->ip, a) != 1) ||
	    !next_word(&p, end, out->header_from, sizeof(out->header_from)) ||
	    out->header_from[0] == '\0' ||
	    !next_domain(&p, end, out->envelope_from, sizeof(out->envelope_from),
	    out->header_from) ||
	    !next_domain(&p, end, out->spf_domain, sizeof(out->spf_domain), out->header_from) ||
	    !next_word(&p, end, out->spf, sizeof(out->spf)) ||
	    !word_in(out->spf, spf_word, MP_SPF_PERMERROR + 1) ||
	    !next_word(&p, end, w[0], sizeof(w[0])) || !bit_word(w[0], &out->dkim_aligned) ||
	    !next_word(&p, end, w[1], sizeof(w[1])) || !bit_word(w[1], &out->spf_aligned) ||
	    !next_word(&p, end, out->disposition, sizeof(out->disposition)) ||
	    (strcmp(out->disposition, "none") != 0 && strcmp(out->disposition, "quarantine") != 0 &&
	    strcmp(out->disposition, "reject") != 0) ||
	    !next_word(&p, end, w[2], sizeof(w[2])) || !reasons_word(w[2], out))
		return false;
	while (p < end) {
		struct mp_report_dkim *k;

		if (out->ndkim == MP_DKIM_MAX)
			return false;
		k = &out->dkim[out->ndkim++];
		if (!next_domain(&p, end, k->domain, sizeof(k->domain), out->header_from) ||
		    !next_word(&p, end, k->selector, sizeof(k->selector)) ||
		    !next_word(&p, end, k->result, sizeof(k->result)) ||
		    !word_in(k->result, dkim_word, MP_DKIM_PERMERROR + 1))
			return false;
	}
	/* A row that ended on a space has lost a word. */
	return len == 0 || row[len - 1] != ' ';
}

/* ---- the policy as published ------------------------------------------- */

static const char *
policy_word(enum mp_dmarc_policy p)
{
	return p == MP_DMARC_P_UNSET ? "" : mp_dmarc_policy_str(p);
}

void
mp_store_report_policy(const struct mp_store_report *rep, struct mp_buf *out)
{
	mp_buf_reset(out);
	mp_buf_printf(out, "p=%s sp=%s np=%s adkim=%c aspf=%c t=%c fo=%d disc=treewalk rua=",
	    rep->p == MP_DMARC_P_UNSET ? "none" : policy_word(rep->p), policy_word(rep->sp),
	    policy_word(rep->np), rep->adkim_strict ? 's' : 'r', rep->aspf_strict ? 's' : 'r',
	    rep->testing ? 'y' : 'n', rep->fo_present ? 1 : 0);
	/* Printable already; the report reads it up to the end of the text. */
	for (const char *s = rep->rua; *s; s++)
		mp_buf_putc(out, (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '_');
}

/* One "name=value" of the policy text at *p; value copied into dst. */
static bool
policy_tag(const char **p, const char *name, char *dst, size_t dstlen)
{
	size_t n = strlen(name), len;

	if (strncmp(*p, name, n) != 0 || (*p)[n] != '=')
		return false;
	*p += n + 1;
	len = strcspn(*p, " ");
	if (len >= dstlen || (*p)[len] != ' ')
		return false;
	memcpy(dst, *p, len);
	dst[len] = '\0';
	*p += len + 1;
	return true;
}

static bool
disposition_ok(const char *w, bool empty_ok)
{
	return (empty_ok && w[0] == '\0') || strcmp(w, "none") == 0 ||
	    strcmp(w, "quarantine") == 0 || strcmp(w, "reject") == 0;
}

bool
mp_store_report_policy_parse(const char *text, struct mp_report_policy *out)
{
	const char *p = text;
	char a[4], s[4], t[4], fo[4], disc[16];

	memset(out, 0, sizeof(*out));
	if (!policy_tag(&p, "p", out->p, sizeof(out->p)) || !disposition_ok(out->p, false) ||
	    !policy_tag(&p, "sp", out->sp, sizeof(out->sp)) || !disposition_ok(out->sp, true) ||
	    !policy_tag(&p, "np", out->np, sizeof(out->np)) || !disposition_ok(out->np, true) ||
	    !policy_tag(&p, "adkim", a, sizeof(a)) || !policy_tag(&p, "aspf", s, sizeof(s)) ||
	    !policy_tag(&p, "t", t, sizeof(t)) || !policy_tag(&p, "fo", fo, sizeof(fo)) ||
	    !policy_tag(&p, "disc", disc, sizeof(disc)) || strncmp(p, "rua=", 4) != 0)
		return false;
	if ((strcmp(a, "r") != 0 && strcmp(a, "s") != 0) ||
	    (strcmp(s, "r") != 0 && strcmp(s, "s") != 0) ||
	    (strcmp(t, "y") != 0 && strcmp(t, "n") != 0) ||
	    (strcmp(fo, "0") != 0 && strcmp(fo, "1") != 0) || strcmp(disc, "treewalk") != 0)
		return false;
	out->adkim = a[0];
	out->aspf = s[0];
	out->testing = t[0];
	out->fo_present = fo[0] == '1';
	return mp_strlcpy(out->rua, p + 4, sizeof(out->rua));
}

/* ---- one message's EVALSHA share --------------------------------------- */

/*
 * The strings handed to hiredis must outlive the call that makes them
 * (the writer appends right after): one scratch per thread, freed when
 * the thread ends.
 */
struct scratch {
	char keys[2][MP_STORE_KEY_MAX];
	struct mp_buf row, text, policy;
	char ctl[64];
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_free(void *p)
{
	struct scratch *s = p;

	mp_buf_free(&s->row);
	mp_buf_free(&s->text);
	mp_buf_free(&s->policy);
	free(s);
}

static void
scratch_key_make(void)
{
	if (pthread_key_create(&scratch_key, scratch_free) != 0)
		abort();
}

static struct scratch *
scratch_get(void)
{
	struct scratch *s;

	(void)pthread_once(&scratch_once, scratch_key_make);
	if ((s = pthread_getspecific(scratch_key)) == NULL) {
		s = xcalloc(1, sizeof(*s));
		if (pthread_setspecific(scratch_key, s) != 0)
			abort();
	}
	return s;
}

/*
 * The report sender's own mail is not reported on: a report about
 * reports would go out again the next day. Only a pass for that very
 * address counts, so a forger cannot hide his mail by using it. The
 * record's mail_from is a display copy, but one that was cut or escaped
 * never equals a configured address.
 */
static bool
own_report(const struct mp_store_options *o, const struct mp_store_record *r)
{
	return o->report_from[0] != '\0' && r->spf == MP_SPF_PASS &&
	    mp_strcasecmp(r->mail_from, o->report_from) == 0;
}

bool
mp_store_report_args(const struct mp_store_options *o, const struct mp_store_record *r,
    const char *org, struct mp_store_report_args *out)
{
	struct scratch *s;
	char day[9], pid[MP_REPORT_PID_LEN + 1];
	long max = o->report_max_rows > 0 ? o->report_max_rows : MP_REPORT_MAX_ROWS;

	if (r->rep.policy_domain[0] == '\0' || own_report(o, r))
		return false;
	s = scratch_get();
	if (!mp_store_report_row(r, &s->row))
		return false;
	mp_store_report_policy(&r->rep, &s->text);
	mp_store_report_pid(s->text.data, s->text.len, pid);
	/* The script reads "PID POLICY": the id first, fixed width. */
	mp_buf_reset(&s->policy);
	mp_buf_printf(&s->policy, "%s %s", pid, mp_buf_str(&s->text));
	mp_store_day(r->time, day);
	mp_store_key_report_rows(o, s->keys[0], org, r->rep.policy_domain, day);
	mp_store_key_report_meta(o, s->keys[1], org, r->rep.policy_domain, day);
	snprintf(s->ctl, sizeof(s->ctl), "report %ld %ld", max,
	    o->ttl_day < MP_REPORT_TTL ? o->ttl_day : (long)MP_REPORT_TTL);
	out->keys[0] = s->keys[0];
	out->keys[1] = s->keys[1];
	out->argv[0] = s->row.data;
	out->argvlen[0] = s->row.len;
	out->argv[1] = s->policy.data;
	out->argvlen[1] = s->policy.len;
	out->argv[2] = s->ctl;
	out->argvlen[2] = strlen(s->ctl);
	return true;
}
