/*
 * aggregate_send: an aggregate report to the rua destinations its policy
 * names, through the local MTA: only where RFC 9990's "Verifying
 * External Destinations" allows it, at most [report] max_destinations,
 * and once per report and destination, whatever runs and hosts try.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregate_int.h"
#include "dmarc.h"
#include "log.h"

#define SENDMAIL_ARGS 32            /* words of [report] sendmail, -f and FROM */

/* ---- addresses ------------------------------------------------------------ */

/* RFC 5322 atext: what a dot-atom local part holds, nothing that could
 * end a header field or start a comment. */
static bool
atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

bool
agg_address(const char *in, size_t len, char out[AGG_ADDR_MAX])
{
	const char *at = memchr(in, '@', len);
	char domain[MP_DOMAIN_MAX];
	size_t local;
	int n;

	out[0] = '\0';
	if (at == NULL || (local = (size_t)(at - in)) == 0 || local > 64)
		return false;
	for (size_t i = 0; i < local; i++) {
		bool dot = in[i] == '.';

		if (!atext((unsigned char)in[i]) &&
		    !(dot && i > 0 && i + 1 < local && in[i - 1] != '.'))
			return false;
	}
	if (!mp_domain_normalize(at + 1, len - local - 1, domain, NULL))
		return false;
	/* A 64-byte local part and a 253-byte domain do not fit: an
	 * address cut short would be someone else's. */
	n = snprintf(out, AGG_ADDR_MAX, "%.*s@%s", (int)local, in, domain);
	if (n < 0 || (size_t)n >= AGG_ADDR_MAX) {
		out[0] = '\0';
		return false;
	}
	return true;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * One mailto: URI of a rua list: the address up to a "?" (RFC 6068
 * header fields) or a "!" (a size limit, RFC 9989, ignored), with
 * %-escapes decoded. False for other schemes and bad addresses.
 */
static bool
mailto(const char *uri, size_t len, char out[AGG_ADDR_MAX])
{
	char addr[AGG_ADDR_MAX];
	size_t n = 0;

	if (len < 7 || mp_strncasecmp(uri, "mailto:", 7) != 0)
		return false;
	for (size_t i = 7; i < len && uri[i] != '?' && uri[i] != '!'; i++) {
		int hi, lo;

		if (n + 1 >= sizeof(addr))
			return false;
		if (uri[i] == '%' && i + 2 < len && (hi = hexval(uri[i + 1])) >= 0 &&
		    (lo = hexval(uri[i + 2])) >= 0) {
			addr[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			addr[n++] = uri[i];
		}
	}
	return agg_address(addr, n, out);
}

size_t
agg_rua_mailtos(const char *rua, char (*out)[AGG_ADDR_MAX], size_t max)
{
	const char *p = rua;
	size_t n = 0;

	while (*p != '\0' && n < max) {
		size_t len = strcspn(p, ",");
		const char *u = p;
		size_t ulen = len;

		while (ulen > 0 && (*u == ' ' || *u == '\t'))
			u++, ulen--;
		while (ulen > 0 && (u[ulen - 1] == ' ' || u[ulen - 1] == '\t'))
			ulen--;
		if (mailto(u, ulen, out[n]))
			n++;
		p += len + (p[len] == ',');
	}
	return n;
}

/* ---- Verifying External Destinations (RFC 9990 3) --------------------------- */

static const char *
host_of(const char *addr)
{
	return strchr(addr, '@') + 1;
}

/*
 * What a TXT record set at POLICY._report._dmarc.HOST says: denied
 * without a v=DMARC1 record; else authorized, with the rua of the first
 * record that has one, which must stay on host.
 */
static enum agg_dest
authorization(const struct mp_dns_result *res, const char *host, char (*out)[AGG_ADDR_MAX],
    size_t max, size_t *n_r, char *why, size_t whylen)
{
	bool found = false;

	for (size_t i = 0; i < res->count; i++) {
		const struct mp_dns_rr *rr = &res->rr[i];
		struct mp_dmarc_record rec;
		char whyparse[160];
		size_t n;

		if (!mp_dmarc_is_record(rr->text, rr->text_len))
			continue;
		found = true;
		if (!mp_dmarc_record_parse(rr->text, rr->text_len, &rec, whyparse,
		    sizeof(whyparse)) || rec.rua[0] == '\0')
			continue;
		n = agg_rua_mailtos(rec.rua, out, max);
		for (size_t k = 0; k < n; k++) {
			if (strcmp(host_of(out[k]), host) != 0) {
				mp_setf(why, whylen, "its authorization names %s, on another host: "
				    "none is sent", out[k]);
				return AGG_DEST_DENIED;
			}
		}
		if (n > 0) {
			*n_r = n;
			mp_setf(why, whylen, "authorized, redirected to %s%s", out[0],
			    n > 1 ? " and more" : "");
			return AGG_DEST_OK;
		}
	}
	if (!found) {
		mp_setf(why, whylen, "not authorized: no v=DMARC1 record");
		return AGG_DEST_DENIED;
	}
	mp_setf(why, whylen, "authorized");
	return AGG_DEST_OK;
}

enum agg_dest
agg_destination(const struct agg_lookup *lk, const char *policy_domain, const char *addr,
    char (*out)[AGG_ADDR_MAX], size_t max, size_t *n_r, char *why, size_t whylen)
{
	const char *host = host_of(addr);
	char org_pd[MP_DOMAIN_MAX], org_host[MP_DOMAIN_MAX], name[300];
	struct mp_dns_result *res;
	enum agg_dest d;
	int n;

	*n_r = 0;
	if (max == 0)
		return AGG_DEST_DENIED;
	if (!lk->org(lk->ctx, policy_domain, org_pd) || !lk->org(lk->ctx, host, org_host)) {
		mp_setf(why, whylen, "the Organizational Domain could not be looked up");
		return AGG_DEST_RETRY;
	}
	mp_strlcpy(out[0], addr, AGG_ADDR_MAX);
	if (strcmp(org_pd, org_host) == 0) {
		*n_r = 1;
		mp_setf(why, whylen, "same Organizational Domain");
		return AGG_DEST_OK;
	}
	if ((n = snprintf(name, sizeof(name), "%s._report._dmarc.%s", policy_domain, host)) < 0 ||
	    (size_t)n > MP_DNS_NAME_MAX - 2) {
		mp_setf(why, whylen, "not authorized: the name to look up (%d bytes) is too long "
		    "for the DNS", n);
		return AGG_DEST_DENIED;
	}
	res = lk->txt(lk->ctx, name);
	if (mp_dns_status_is_temp(res->status)) {
		mp_setf(why, whylen, "TXT %s: %s", name, mp_dns_status_str(res->status));
		d = AGG_DEST_RETRY;
	} else if (res->status != MP_DNS_OK) {
		mp_setf(why, whylen, "not authorized: no record at %s", name);
		d = AGG_DEST_DENIED;
	} else {
		d = authorization(res, host, out, max, n_r, why, whylen);
		if (d == AGG_DEST_OK && *n_r == 0) {
			mp_strlcpy(out[0], addr, AGG_ADDR_MAX);
			*n_r = 1;
		}
	}
	mp_dns_result_free(&res);
	return d;
}

/* ---- the run's DNS ---------------------------------------------------------- */

/* Buckets of the cache: a run asks about some names per report, and a
 * day has at most some thousands of reports. */
#define DNS_BUCKETS 4096

struct dns_entry {
	struct dns_entry *next;
	bool txt;                       /* a TXT answer, else an Organizational Domain */
	bool ok;                        /* the Organizational Domain could be told */
	char org[MP_DOMAIN_MAX];
	struct mp_dns_result *res;      /* the TXT answer */
	char name[];
};

struct agg_dns {
	struct agg_lookup lk;           /* the cache's own: ctx is this */
	const struct agg_lookup *inner;
	unsigned long long budget_ms, spent_ms;
	struct dns_entry *bucket[DNS_BUCKETS];
};

/* The entry of (txt, name), or NULL with *slot_r its bucket. */
static struct dns_entry *
dns_find(struct agg_dns *d, bool txt, const char *name, size_t *slot_r)
{
	*slot_r = mp_store_report_hash(name, strlen(name), MP_REPORT_HASH_INIT) % DNS_BUCKETS;
	for (struct dns_entry *e = d->bucket[*slot_r]; e != NULL; e = e->next)
		if (e->txt == txt && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static struct dns_entry *
dns_add(struct agg_dns *d, size_t slot, bool txt, const char *name)
{
	size_t len = strlen(name);
	struct dns_entry *e = xcalloc(1, sizeof(*e) + len + 1);

	e->txt = txt;
	memcpy(e->name, name, len + 1);
	e->next = d->bucket[slot];
	d->bucket[slot] = e;
	return e;
}

static bool
cached_org(void *ctx, const char *name, char out[MP_DOMAIN_MAX])
{
	struct agg_dns *d = ctx;
	struct dns_entry *e;
	unsigned long long t0;
	size_t slot;

	if ((e = dns_find(d, false, name, &slot)) == NULL) {
		if (!agg_dns_budget_left(d))
			return false;
		e = dns_add(d, slot, false, name);
		t0 = mp_now_ms();
		e->ok = d->inner->org(d->inner->ctx, name, e->org);
		d->spent_ms += mp_now_ms() - t0;
	}
	mp_strlcpy(out, e->org, MP_DOMAIN_MAX);
	return e->ok;
}

static struct mp_dns_result *
cached_txt(void *ctx, const char *name)
{
	struct agg_dns *d = ctx;
	struct dns_entry *e;
	unsigned long long t0;
	size_t slot;

	if ((e = dns_find(d, true, name, &slot)) == NULL) {
		if (!agg_dns_budget_left(d))
			return mp_dns_result_new(MP_DNS_TIMEOUT, "the run's DNS time is spent");
		e = dns_add(d, slot, true, name);
		t0 = mp_now_ms();
		e->res = d->inner->txt(d->inner->ctx, name);
		d->spent_ms += mp_now_ms() - t0;
	}
	return mp_dns_result_dup(e->res);
}

struct agg_dns *
agg_dns_new(const struct agg_lookup *inner, unsigned long long budget_ms)
{
	struct agg_dns *d = xcalloc(1, sizeof(*d));

	d->inner = inner;
	d->budget_ms = budget_ms;
	d->lk.ctx = d;
	d->lk.org = cached_org;
	d->lk.txt = cached_txt;
	return d;
}

void
agg_dns_free(struct agg_dns **dp)
{
	struct agg_dns *d = *dp;

	if (d == NULL)
		return;
	for (size_t i = 0; i < DNS_BUCKETS; i++) {
		for (struct dns_entry *e = d->bucket[i], *next; e != NULL; e = next) {
			next = e->next;
			mp_dns_result_free(&e->res);
			free(e);
		}
	}
	free(d);
	*dp = NULL;
}

const struct agg_lookup *
agg_dns_lookup(const struct agg_dns *d)
{
	return &d->lk;
}

bool
agg_dns_budget_left(const struct agg_dns *d)
{
	return d->spent_ms < d->budget_ms;
}

/* ---- the message ------------------------------------------------------------ */

static void
base64(const unsigned char *p, size_t len, struct mp_buf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (unsigned long)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		mp_buf_putc(out, tab[v >> 18 & 63]);
		mp_buf_putc(out, tab[v >> 12 & 63]);
		mp_buf_putc(out, left > 1 ? tab[v >> 6 & 63] : '=');
		mp_buf_putc(out, left > 2 ? tab[v & 63] : '=');
		if ((col += 4) == 76) {
			mp_buf_putc(out, '\n');
			col = 0;
		}
	}
	if (col > 0)
		mp_buf_putc(out, '\n');
}

/* Header fields of the report mail. The Subject is RFC 9990's
 * dmarc-subject, folded; the Report-ID is the file's unique-id. */
static void
message_header(const struct agg_conf *c, const struct agg_report *r, const char *to, time_t now,
    struct mp_buf *out)
{
	struct tm tm;
	char date[64];

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	mp_buf_printf(out, "From: %s\n", c->from);
	mp_buf_printf(out, "To: %s\n", to);
	mp_buf_printf(out, "Subject: Report Domain: %s\n Submitter: %s\n Report-ID: %s\n",
	    r->domain, c->submitter, r->id);
	mp_buf_printf(out, "Date: %s\n", date);
	/* One message per destination: the address's hash keeps their ids apart. */
	mp_buf_printf(out, "Message-ID: <%s.%08lx@%s>\n", r->id,
	    mp_store_report_hash(to, strlen(to), MP_REPORT_HASH_INIT), c->submitter);
	mp_buf_puts(out, "Auto-Submitted: auto-generated\n");
	mp_buf_puts(out, "MIME-Version: 1.0\n");
	mp_buf_printf(out, "Content-Type: multipart/mixed; boundary=\"=_mp_%s\"\n\n", r->id);
}

void
agg_message(const struct agg_conf *c, const struct agg_report *r, const char *to,
    const char *file, const struct mp_buf *gz, time_t now, struct mp_buf *out)
{
	mp_buf_reset(out);
	message_header(c, r, to, now, out);
	mp_buf_puts(out, "This is a DMARC aggregate report (RFC 9990) in MIME format.\n\n");
	mp_buf_printf(out, "--=_mp_%s\n", r->id);
	mp_buf_puts(out, "Content-Type: text/plain; charset=us-ascii\n\n");
	mp_buf_printf(out, "DMARC aggregate report for %s, %.4s-%.2s-%.2s (UTC), from %s.\n"
	    "Report-ID: %s\n\n", r->domain, r->day, r->day + 4, r->day + 6, c->submitter, r->id);
	mp_buf_printf(out, "--=_mp_%s\n", r->id);
	mp_buf_printf(out, "Content-Type: application/gzip; name=\"%s\"\n", file);
	mp_buf_printf(out, "Content-Disposition: attachment; filename=\"%s\"\n", file);
	mp_buf_puts(out, "Content-Transfer-Encoding: base64\n\n");
	base64((const unsigned char *)gz->data, gz->len, out);
	mp_buf_printf(out, "\n--=_mp_%s--\n", r->id);
}

/* ---- the local MTA ---------------------------------------------------------- */

/* Writes msg to the child's standard input; false on a write error. A
 * socket, not a pipe: an MTA that exits early gives EPIPE, never SIGPIPE. */
static bool
write_all(int fd, const struct mp_buf *msg)
{
	for (size_t off = 0; off < msg->len; ) {
		ssize_t n = send(fd, msg->data + off, msg->len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

/* words ([report] sendmail, then "-f FROM") split at spaces, in place;
 * NULL-terminated. */
static void
sendmail_argv(char *words, char **argv)
{
	size_t n = 0;

	for (char *w = strtok(words, " \t"); w != NULL && n < SENDMAIL_ARGS - 1;
	    w = strtok(NULL, " \t"))
		argv[n++] = w;
	argv[n] = NULL;
}

/* Runs the local MTA on msg; false + why when it could not take it. */
static bool
sendmail(const struct agg_conf *c, const struct mp_buf *msg, char *why, size_t whylen)
{
	char words[AGG_TEXT_MAX + AGG_ADDR_MAX + 8], *argv[SENDMAIL_ARGS];
	int fds[2], status;
	bool wrote;
	pid_t pid;

	/* from is a checked address: no space in it. */
	snprintf(words, sizeof(words), "%s -f %s", c->sendmail, c->from);
	sendmail_argv(words, argv);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
		mp_setf(why, whylen, "socketpair: %s", strerror(errno));
		return false;
	}
	if ((pid = fork()) < 0) {
		mp_setf(why, whylen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return false;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[0]);
	wrote = write_all(fds[1], msg);
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			mp_setf(why, whylen, "waitpid: %s", strerror(errno));
			return false;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && wrote)
		return true;
	if (WIFEXITED(status))
		mp_setf(why, whylen, "%s exited with status %d", argv[0], WEXITSTATUS(status));
	else
		mp_setf(why, whylen, "%s killed by signal %d", argv[0],
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return false;
}

/* ---- once per report and destination ---------------------------------------- */

/* Sends to one destination unless its marker says it went already. */
static bool
send_one(const struct agg_conf *c, const struct agg_marks *mk, const struct agg_report *r,
    const char *to, const char *file, const struct mp_buf *gz, time_t now,
    struct agg_sent *st)
{
	struct mp_buf msg = MP_BUF_INIT;
	char why[256];
	int taken;
	bool ok = true;

	if ((taken = mk->take(mk->ctx, r, to)) <= 0) {
		st->already += taken == 0;
		return taken == 0;
	}
	agg_message(c, r, to, file, gz, now, &msg);
	if (sendmail(c, &msg, why, sizeof(why))) {
		mp_log(LOG_INFO, "report %s for %s sent to %s", r->id, r->domain, to);
		st->sent++;
	} else {
		mp_log(LOG_ERR, "report %s for %s to %s not sent (tried again on the next run): "
		    "%s", r->id, r->domain, to, why);
		st->failed++;
		ok = mk->give_back(mk->ctx, r, to);
	}
	mp_buf_free(&msg);
	return ok;
}

/* Adds the addresses of one rua URI's verdict, without repeats, up to max. */
static void
add_dests(char (*dests)[AGG_ADDR_MAX], size_t *n, size_t max, char (*got)[AGG_ADDR_MAX],
    size_t ngot)
{
	for (size_t i = 0; i < ngot && *n < max; i++) {
		bool dup = false;

		for (size_t k = 0; k < *n && !dup; k++)
			dup = strcmp(dests[k], got[i]) == 0;
		if (!dup)
			mp_strlcpy(dests[(*n)++], got[i], AGG_ADDR_MAX);
	}
}

/* The destinations that uris[0..nuri) allow into dests; their number. */
static size_t
destinations(const struct agg_conf *c, struct agg_dns *dns, const struct agg_report *r,
    char (*uris)[AGG_ADDR_MAX], size_t nuri, char (*dests)[AGG_ADDR_MAX],
    struct agg_sent *st)
{
	size_t max = (size_t)c->max_destinations, ndest = 0;
	char (*got)[AGG_ADDR_MAX] = xcalloc(max, AGG_ADDR_MAX);

	for (size_t i = 0; i < nuri; i++) {
		char why[300];
		size_t ngot;

		switch (agg_destination(agg_dns_lookup(dns), r->domain, uris[i], got, max, &ngot,
		    why, sizeof(why))) {
		case AGG_DEST_OK:
			add_dests(dests, &ndest, max, got, ngot);
			break;
		case AGG_DEST_DENIED:
			mp_log(LOG_NOTICE, "report %s for %s: not sent to %s: %s", r->id, r->domain,
			    uris[i], why);
			st->denied++;
			break;
		case AGG_DEST_RETRY:
			mp_log(LOG_WARNING, "report %s for %s: %s not checked (tried again on the "
			    "next run): %s", r->id, r->domain, uris[i], why);
			st->failed++;
			break;
		}
	}
	free(got);
	return ndest;
}

bool
agg_send_report(const struct agg_conf *c, struct agg_dns *dns, const struct agg_marks *mk,
    const struct agg_report *r, const char *file, const struct mp_buf *gz, time_t now,
    struct agg_sent *st)
{
	size_t max = (size_t)c->max_destinations, nuri, ndest;
	char (*uris)[AGG_ADDR_MAX] = xcalloc(max, AGG_ADDR_MAX);
	char (*dests)[AGG_ADDR_MAX] = NULL;
	unsigned failed = st->failed, before = 0;
	int done = 0;
	bool ok = true;

	/* A report handled whole by an earlier run asks no DNS again. */
	if ((nuri = agg_rua_mailtos(r->policy.rua, uris, max)) == 0 ||
	    (done = mk->done(mk->ctx, r, &before)) != 0) {
		st->already += done > 0 ? before : 0;
		free(uris);
		return done >= 0;
	}
	if (!agg_dns_budget_left(dns)) {
		st->left++;
		free(uris);
		return true;
	}
	dests = xcalloc(max, AGG_ADDR_MAX);
	ndest = destinations(c, dns, r, uris, nuri, dests, st);
	for (size_t i = 0; i < ndest && ok; i++)
		ok = send_one(c, mk, r, dests[i], file, gz, now, st);
	/* Every destination decided and sent (or sent before): done. */
	if (ok && st->failed == failed)
		ok = mk->set_done(mk->ctx, r);
	free(uris);
	free(dests);
	return ok;
}
