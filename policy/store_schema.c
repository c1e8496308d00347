/*
 * store_schema: the key names (README "Redis key schema") and the
 * record's encodings: the EVALSHA that stores it (its arguments are
 * the contract with store.lua), the message JSON and the outcome field
 * the daily hashes count, with its reader.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_slot.h"
#include "store_int.h"

const char *
mp_store_script(void)
{
	return store_lua;
}

/* ---- key names --------------------------------------------------------- */

/*
 * Appends s to the key in buf, bytes outside the safe set replaced by
 * '_', at most max bytes. Domain names are already normalised; this
 * keeps a hostile host name or queue id from forging a hash tag or a
 * key separator.
 */
static size_t
put_comp(char *buf, size_t at, const char *s, size_t max, bool colon_ok)
{
	size_t n = 0;

	for (; *s && n < max && at < MP_STORE_KEY_MAX - 1; s++, n++) {
		unsigned char ch = (unsigned char)*s;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' ||
		    (colon_ok && ch == ':');

		buf[at++] = ok ? (char)ch : '_';
	}
	buf[at] = '\0';
	return at;
}

static size_t
put_lit(char *buf, size_t at, const char *s)
{
	while (*s && at < MP_STORE_KEY_MAX - 1)
		buf[at++] = *s++;
	buf[at] = '\0';
	return at;
}

/* prefix KIND "{" org "}" */
static size_t
key_start(const struct mp_store_options *o, char *buf, const char *kind, const char *org,
    const char *domain)
{
	size_t at = 0;

	buf[0] = '\0';
	at = put_lit(buf, at, o->key_prefix);
	at = put_lit(buf, at, kind);
	if (org != NULL) {
		at = put_lit(buf, at, ":{");
		at = put_comp(buf, at, org[0] ? org : domain, MP_DOMAIN_MAX, false);
		at = put_lit(buf, at, "}");
	}
	return at;
}

void
mp_store_key_message(const struct mp_store_options *o, char *buf, const char *org,
    const char *host, const char *queue_id)
{
	size_t at = key_start(o, buf, "m", org, "");

	at = put_lit(buf, at, ":");
	at = put_comp(buf, at, host, 255, false);
	at = put_lit(buf, at, ":");
	put_comp(buf, at, queue_id, 63, false);
}

/* prefix KIND "{" org "}" ":" domain */
static void
key_domain(const struct mp_store_options *o, char *buf, const char *kind, const char *org,
    const char *domain)
{
	size_t at = key_start(o, buf, kind, org, domain);

	at = put_lit(buf, at, ":");
	put_comp(buf, at, domain, MP_DOMAIN_MAX, false);
}

void
mp_store_key_domain(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain)
{
	key_domain(o, buf, "d", org, domain);
}

static void
key_domain_day(const struct mp_store_options *o, char *buf, const char *kind, const char *org,
    const char *domain, const char *day)
{
	size_t at = key_start(o, buf, kind, org, domain);

	at = put_lit(buf, at, ":");
	at = put_comp(buf, at, domain, MP_DOMAIN_MAX, false);
	at = put_lit(buf, at, ":");
	put_comp(buf, at, day, 8, false);
}

void
mp_store_key_domain_day(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain, const char *day)
{
	key_domain_day(o, buf, "dd", org, domain, day);
}

void
mp_store_key_domain_ips(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain, const char *day)
{
	key_domain_day(o, buf, "di", org, domain, day);
}

void
mp_store_key_report_rows(const struct mp_store_options *o, char *buf, const char *org,
    const char *policy_domain, const char *day)
{
	key_domain_day(o, buf, "ar", org, policy_domain, day);
}

void
mp_store_key_report_meta(const struct mp_store_options *o, char *buf, const char *org,
    const char *policy_domain, const char *day)
{
	key_domain_day(o, buf, "am", org, policy_domain, day);
}

void
mp_store_key_recent(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain)
{
	key_domain(o, buf, "r", org, domain);
}

void
mp_store_key_worst(const struct mp_store_options *o, char *buf)
{
	key_start(o, buf, "worst", NULL, NULL);
}

static void
key_global_day(const struct mp_store_options *o, char *buf, const char *kind, const char *day)
{
	size_t at = key_start(o, buf, kind, NULL, NULL);

	at = put_lit(buf, at, ":");
	put_comp(buf, at, day, 8, false);
}

void
mp_store_key_day(const struct mp_store_options *o, char *buf, const char *day)
{
	key_global_day(o, buf, "day", day);
}

void
mp_store_key_volume(const struct mp_store_options *o, char *buf, const char *day)
{
	key_global_day(o, buf, "vol", day);
}

void
mp_store_key_dmarc_fail(const struct mp_store_options *o, char *buf, const char *day)
{
	key_global_day(o, buf, "fail", day);
}

void
mp_store_key_ip(const struct mp_store_options *o, char *buf, const char *ip, const char *day)
{
	size_t at = key_start(o, buf, "ip", NULL, NULL);

	at = put_lit(buf, at, ":");
	at = put_comp(buf, at, ip, 63, true);
	at = put_lit(buf, at, ":");
	put_comp(buf, at, day, 8, false);
}

/* prefix "audit:" target; ':' kept (host:port, IPv6), '[' ']' become '_'. */
void
mp_store_key_audit(const struct mp_store_options *o, char *buf, const char *target)
{
	size_t at = key_start(o, buf, "audit", NULL, NULL);

	at = put_lit(buf, at, ":");
	put_comp(buf, at, target, 300, true);
}

void
mp_store_key_audits(const struct mp_store_options *o, char *buf)
{
	key_start(o, buf, "audits", NULL, NULL);
}

void
store_key_postures(const struct mp_store_options *o, char *buf)
{
	key_start(o, buf, "postures", NULL, NULL);
}

/* ---- slot groups ------------------------------------------------------- */

/* The kinds of key that count the whole installation. */
static const char *const grouped_kinds[] = { "worst", "day", "vol", "fail", "ip" };

unsigned
mp_store_groups(const struct mp_store_options *o)
{
	return o->cluster[0] != '\0' ? MP_REDIS_SLOTS : 1;
}

/* The length of "prefix kind" when key counts the installation, else 0. */
static size_t
grouped_len(const struct mp_store_options *o, const char *key)
{
	size_t plen = strlen(o->key_prefix);

	if (strncmp(key, o->key_prefix, plen) != 0)
		return 0;
	for (size_t i = 0; i < MP_ARRAY_SIZE(grouped_kinds); i++) {
		size_t n = strlen(grouped_kinds[i]);

		if (strncmp(key + plen, grouped_kinds[i], n) == 0 &&
		    (key[plen + n] == ':' || key[plen + n] == '\0'))
			return plen + n;
	}
	return 0;
}

/* Puts ":{tag}" after the first at bytes of key (MP_STORE_KEY_MAX), in place. */
static void
insert_tag(char *key, size_t at, const char *tag)
{
	size_t tlen = strlen(tag) + 3, len = strlen(key);

	if (len + tlen >= MP_STORE_KEY_MAX)
		len = MP_STORE_KEY_MAX - 1 - tlen;
	memmove(key + at + tlen, key + at, len - at);
	key[len + tlen] = '\0';
	key[at] = ':';
	key[at + 1] = '{';
	memcpy(key + at + 2, tag, tlen - 3);
	key[at + tlen - 1] = '}';
}

bool
mp_store_key_in_group(const struct mp_store_options *o, const char *key, unsigned group,
    char *out)
{
	char tag[MP_REDIS_TAG_MAX];
	size_t at = grouped_len(o, key);

	if (at == 0)
		return false;
	mp_redis_slot_tag(group, tag);
	mp_strlcpy(out, key, MP_STORE_KEY_MAX);
	insert_tag(out, at, tag);
	return true;
}

/* On a Cluster: keys[from..to) become the share of the slot of keys[0]. */
static void
group_keys(const struct mp_store_options *o, struct store_evalargs *a, int from, int to)
{
	char tag[MP_REDIS_TAG_MAX];

	if (mp_store_groups(o) == 1)
		return;
	a->slot = (int)mp_redis_key_slot(a->keys[0], strlen(a->keys[0]));
	mp_redis_slot_tag((unsigned)a->slot, tag);
	for (int i = from; i < to; i++) {
		size_t at = grouped_len(o, a->keys[i]);

		if (at > 0)
			insert_tag(a->keys[i], at, tag);
	}
}

void
mp_store_day(time_t t, char day[9])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 || tm.tm_year > 8099) {
		mp_strlcpy(day, "19700101", 9);
		return;
	}
	snprintf(day, 9, "%04u%02u%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
	    (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

static const char *
policy_word(enum mp_dmarc_policy p)
{
	return p == MP_DMARC_P_UNSET ? "" : mp_dmarc_policy_str(p);
}

/* ---- the EVALSHA of a record ------------------------------------------ */

static void
arg(struct store_evalargs *a, const char *s)
{
	a->argv[a->argc] = s;
	a->argvlen[a->argc] = strlen(s);
	a->argc++;
}

/*
 * Appends s as a JSON string. Built by hand rather than with jansson:
 * it runs once per message on the writer thread, whose time bounds the
 * throughput. Bytes outside printable ASCII become \u00XX (the peer's
 * text is printable already; this keeps the JSON valid whatever comes).
 */
static void
json_puts(struct mp_buf *b, const char *key, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	mp_buf_printf(b, "%s\"%s\":\"", b->len > 1 ? "," : "", key);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			mp_buf_putc(b, '\\');
			mp_buf_putc(b, (char)ch);
		} else if (ch < 0x20 || ch >= 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

			mp_buf_append(b, e, sizeof(e));
		} else {
			mp_buf_putc(b, (char)ch);
		}
	}
	mp_buf_putc(b, '"');
}

/* Each DKIM signature verified here: {"d","s","result","aligned"}. */
static void
dkim_json(const struct mp_store_record *r, struct mp_buf *out)
{
	struct mp_buf one = MP_BUF_INIT;

	mp_buf_puts(out, ",\"dkim\":[");
	for (size_t i = 0; i < r->ndkim && i < MP_DKIM_MAX; i++) {
		/* json_puts puts a comma before every key but the first. */
		mp_buf_reset(&one);
		mp_buf_putc(&one, '{');
		json_puts(&one, "d", r->dkim[i].domain);
		json_puts(&one, "s", r->dkim[i].selector);
		json_puts(&one, "result", mp_dkim_result_str(r->dkim[i].result));
		mp_buf_printf(&one, ",\"aligned\":%s}", r->dkim[i].aligned ? "true" : "false");
		if (i > 0)
			mp_buf_putc(out, ',');
		mp_buf_append(out, one.data, one.len);
	}
	mp_buf_putc(out, ']');
	mp_buf_free(&one);
}

/* The stored form of a message (README "Redis key schema"). */
static void
message_json(const struct mp_store_record *r, const char *domain, const char *org,
    struct mp_buf *out)
{
	mp_buf_reset(out);
	mp_buf_putc(out, '{');
	mp_buf_printf(out, "\"t\":%lld", (long long)r->time);
	json_puts(out, "host", r->host);
	json_puts(out, "qid", r->queue_id);
	json_puts(out, "ip", r->ip);
	json_puts(out, "helo", r->helo);
	json_puts(out, "mailfrom", r->mail_from);
	json_puts(out, "from", domain);
	json_puts(out, "org", org);
	json_puts(out, "spf", mp_spf_result_str(r->spf));
	json_puts(out, "dmarc", mp_dmarc_result_str(r->dmarc));
	mp_buf_printf(out, ",\"spf_aligned\":%s,\"dkim_aligned\":%s",
	    r->spf_aligned ? "true" : "false", r->dkim_aligned ? "true" : "false");
	json_puts(out, "policy", policy_word(r->policy));
	json_puts(out, "disposition", policy_word(r->disposition));
	json_puts(out, "action", mp_action_str(r->action));
	dkim_json(r, out);
	if (r->posture_score >= 0 && r->posture_score <= 100) {
		mp_buf_printf(out, ",\"score\":%d", r->posture_score);
		json_puts(out, "grade", r->posture_grade);
	}
	mp_buf_putc(out, '}');
}

/* Mode "p" of store.lua: a posture score alone. */
static void
eval_posture(const struct mp_store_options *o, const struct mp_store_record *r,
    const char *domain, const char *org, struct store_evalargs *a)
{
	mp_store_key_domain(o, a->keys[0], org, domain);
	mp_store_key_worst(o, a->keys[1]);
	group_keys(o, a, 1, 2);
	arg(a, "2");
	arg(a, a->keys[0]);
	arg(a, a->keys[1]);
	arg(a, "p");
	arg(a, a->now);
	arg(a, domain);
	arg(a, org);
	arg(a, a->score);
	arg(a, r->posture_grade);
	arg(a, a->ttl_dom);
}

/* The KEYS of mode "m", in the script's order; the report's come last. */
static void
eval_message_keys(const struct mp_store_options *o, const struct mp_store_record *r,
    const char *domain, const char *org, const char *ip,
    const struct mp_store_report_args *ra, struct store_evalargs *a)
{
	char day[9];

	mp_store_day(r->time, day);
	mp_store_key_message(o, a->keys[0], org, r->host, r->queue_id);
	mp_store_key_domain(o, a->keys[1], org, domain);
	mp_store_key_domain_day(o, a->keys[2], org, domain, day);
	mp_store_key_domain_ips(o, a->keys[3], org, domain, day);
	mp_store_key_recent(o, a->keys[4], org, domain);
	mp_store_key_worst(o, a->keys[5]);
	mp_store_key_day(o, a->keys[6], day);
	mp_store_key_volume(o, a->keys[7], day);
	mp_store_key_dmarc_fail(o, a->keys[8], day);
	mp_store_key_ip(o, a->keys[9], ip, day);
	group_keys(o, a, 5, 10);
	arg(a, ra != NULL ? "12" : "10");
	for (int i = 0; i < 10; i++)
		arg(a, a->keys[i]);
	if (ra != NULL) {
		arg(a, ra->keys[0]);
		arg(a, ra->keys[1]);
	}
}

/* Mode "m" of store.lua: one message. */
static void
eval_message(const struct mp_store_options *o, const struct mp_store_record *r,
    const char *domain, const char *org, struct store_evalargs *a)
{
	const char *ip = r->ip[0] ? r->ip : "unknown";
	struct mp_store_report_args ra;
	bool report = mp_store_report_args(o, r, org, &ra);

	snprintf(a->ttl_msg, sizeof(a->ttl_msg), "%ld", o->ttl_message);
	snprintf(a->ttl_day, sizeof(a->ttl_day), "%ld", o->ttl_day);
	snprintf(a->hl, sizeof(a->hl), "%ld", o->halflife);
	snprintf(a->cap, sizeof(a->cap), "%d", MP_STORE_RECENT);
	mp_store_outcome(r, a->outcome, sizeof(a->outcome));
	message_json(r, domain, org, &a->json);
	eval_message_keys(o, r, domain, org, ip, report ? &ra : NULL, a);
	arg(a, "m");
	arg(a, a->now);
	arg(a, domain);
	arg(a, org);
	arg(a, ip);
	arg(a, mp_spf_result_str(r->spf));
	arg(a, mp_dmarc_result_str(r->dmarc));
	arg(a, r->spf_aligned ? "1" : "0");
	arg(a, r->dkim_aligned ? "1" : "0");
	arg(a, policy_word(r->disposition));
	/* What the domain publishes is unknown after a temperror: leave
	 * the stored value alone then. */
	if (r->dmarc == MP_DMARC_TEMPERROR)
		arg(a, "");
	else
		arg(a, r->published == MP_DMARC_P_UNSET ? "absent" : mp_dmarc_policy_str(r->published));
	arg(a, a->score);
	arg(a, a->score[0] ? r->posture_grade : "");
	a->argv[a->argc] = a->json.data;
	a->argvlen[a->argc] = a->json.len;
	a->argc++;
	arg(a, a->ttl_msg);
	arg(a, a->ttl_dom);
	arg(a, a->ttl_day);
	arg(a, a->hl);
	arg(a, a->cap);
	arg(a, a->outcome);
	for (int i = 0; report && i < 3; i++) {
		a->argv[a->argc] = ra.argv[i];
		a->argvlen[a->argc] = ra.argvlen[i];
		a->argc++;
	}
}

void
store_eval_args(const struct mp_store_options *o, const char *sha, const struct item *it,
    struct store_evalargs *a)
{
	const struct mp_store_record *r = &it->r;
	const char *domain = r->from_domain[0] ? r->from_domain : MP_STORE_NO_DOMAIN;
	const char *org = r->org_domain[0] ? r->org_domain : domain;

	a->argc = 0;
	snprintf(a->now, sizeof(a->now), "%lld", (long long)r->time);
	if (r->posture_score >= 0 && r->posture_score <= 100)
		snprintf(a->score, sizeof(a->score), "%d", r->posture_score);
	else
		a->score[0] = '\0';
	snprintf(a->ttl_dom, sizeof(a->ttl_dom), "%ld", o->ttl_domain);
	arg(a, "EVALSHA");
	arg(a, sha);
	/* Every key sits in the slot of the first: {org}. */
	a->route = a->keys[0];
	a->slot = -1;
	if (it->kind == ITEM_POSTURE)
		eval_posture(o, r, domain, org, a);
	else
		eval_message(o, r, domain, org, a);
}

/* ---- outcome fields ---------------------------------------------------- */

/*
 * Outcome fields: "spf/dmarc/SD/disposition" with S and D the SPF and
 * DKIM alignment as 0 or 1 and disposition "-" when DMARC asked for
 * nothing.
 */
void
mp_store_outcome(const struct mp_store_record *r, char *buf, size_t len)
{
	const char *dispo = policy_word(r->disposition);

	snprintf(buf, len, "%s/%s/%d%d/%s", mp_spf_result_str(r->spf),
	    mp_dmarc_result_str(r->dmarc), r->spf_aligned ? 1 : 0, r->dkim_aligned ? 1 : 0,
	    dispo[0] ? dispo : "-");
}

/* The reader's side: strict, every part must be a known word. */
static int
word_index(const char *s, size_t len, const char *(*str)(int), int n)
{
	for (int i = 0; i < n; i++) {
		const char *w = str(i);

		if (strlen(w) == len && memcmp(w, s, len) == 0)
			return i;
	}
	return -1;
}

static const char *spf_word(int i) { return mp_spf_result_str((enum mp_spf_result)i); }
static const char *dmarc_word(int i) { return mp_dmarc_result_str((enum mp_dmarc_result)i); }

bool
mp_store_outcome_add(const char *field, long long n, struct mp_store_counts *c)
{
	const char *p[4], *end;
	size_t len[4];
	int spf, dmarc;
	const char *q = field;

	if (field == NULL || n < 0 || strlen(field) > 64)
		return false;
	for (int i = 0; i < 4; i++) {
		end = i < 3 ? strchr(q, '/') : q + strlen(q);
		if (end == NULL)
			return false;
		p[i] = q;
		len[i] = (size_t)(end - q);
		q = end + 1;
	}
	if ((spf = word_index(p[0], len[0], spf_word, MP_SPF_PERMERROR + 1)) < 0 ||
	    (dmarc = word_index(p[1], len[1], dmarc_word, MP_DMARC_PERMERROR + 1)) < 0 ||
	    len[2] != 2 || (p[2][0] != '0' && p[2][0] != '1') || (p[2][1] != '0' && p[2][1] != '1'))
		return false;
	if (!(len[3] == 1 && p[3][0] == '-') &&
	    !(len[3] == 4 && memcmp(p[3], "none", 4) == 0) &&
	    !(len[3] == 10 && memcmp(p[3], "quarantine", 10) == 0) &&
	    !(len[3] == 6 && memcmp(p[3], "reject", 6) == 0))
		return false;
	c->total += n;
	if (spf == MP_SPF_PASS)
		c->spf_pass += n;
	else if (spf == MP_SPF_FAIL || spf == MP_SPF_SOFTFAIL)
		c->spf_fail += n;
	if (dmarc == MP_DMARC_PASS)
		c->dmarc_pass += n;
	else if (dmarc == MP_DMARC_FAIL)
		c->dmarc_fail += n;
	else if (dmarc == MP_DMARC_NONE)
		c->dmarc_none += n;
	else
		c->dmarc_error += n;
	if (p[2][0] == '1')
		c->spf_aligned += n;
	if (p[2][1] == '1')
		c->dkim_aligned += n;
	if (p[2][0] == '1' || p[2][1] == '1')
		c->aligned += n;
	if (len[3] == 10)
		c->dis_quarantine += n;
	else if (len[3] == 6)
		c->dis_reject += n;
	return true;
}

