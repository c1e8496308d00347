/*
 * dns: the one resolver of mailposture, over libunbound.
 *
 * Threading. One ub_ctx per struct mp_dns, in libunbound's threaded async
 * mode (its own worker thread; the default would fork(), which a milter
 * must not do), plus one dispatcher thread of ours that waits on ub_fd()
 * and calls ub_process(). Callers submit with ub_resolve_async() and wait
 * on their own query's condition variable, with a timed wait that
 * enforces the per-query timeout and the caller's deadline. (One shared
 * condition variable woke every waiting worker at each answer: with 20
 * sessions, most wake-ups were for somebody else's query.)
 *
 * Why this rather than one ub_ctx per thread: libmilter runs
 * many short-lived worker threads, and a context per thread would mean a
 * resolver thread and a cold cache per connection; one shared context
 * keeps one cache, which is what a mail filter wants. Why a dispatcher
 * rather than "whoever waits calls ub_process": ub_process delivers the
 * callbacks of every thread's queries, so waiting threads would have to
 * elect a leader and hand the role over when it leaves; one thread that
 * only does that is simpler to get right.
 *
 * Cancelling. libunbound (threaded mode) guarantees under its own lock
 * that after ub_cancel() returns 0 the callback is never called, and that
 * when it fails with UB_NOID the callback has been or is being called. A
 * waiter that times out marks its query abandoned under our mutex, then
 * cancels: on success it frees the query itself, otherwise the callback
 * sees the mark and frees it. No libunbound call is ever made while our
 * mutex is held, so the two locks cannot deadlock.
 *
 * Caching. libunbound's cache stays on: for a milter it saves the same
 * SPF and DMARC lookups for every message of a sender. In front of it sits
 * dnscache, which answers repeated lookups without the thread round trip
 * (see dnscache.h). Tests do not suffer, since each test program has its
 * own server and static zones; a test that needs a fresh view (a dead
 * upstream) makes its own mp_dns.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "dns.h"
#include "dnscache.h"
#include "log.h"

struct dns_cb;

struct mp_dns {
	struct ub_ctx *ctx;
	unsigned timeout_ms;
	pthread_mutex_t mu;
	struct dns_cb *waiting; /* queries with a waiter, to wake if broken */
	bool started;           /* dispatcher thread running */
	bool broken;            /* dispatcher gave up: fail fast */
	pthread_t thread;
	int wake[2];            /* tells the dispatcher to exit */
	struct mp_dnscache *cache;
};

/* One query in flight; shared between the waiter and the callback. */
struct dns_query {
	bool done;
	bool abandoned;         /* the waiter left: the callback frees this */
	int err;
	struct ub_result *res;
};

#define DNS_RCODE_NXDOMAIN 3

const char *
mp_dns_status_str(enum mp_dns_status st)
{
	switch (st) {
	case MP_DNS_OK:
		return "ok";
	case MP_DNS_NXDOMAIN:
		return "nxdomain";
	case MP_DNS_NODATA:
		return "nodata";
	case MP_DNS_SERVFAIL:
		return "servfail";
	case MP_DNS_TIMEOUT:
		return "timeout";
	case MP_DNS_ERROR:
		return "error";
	}
	return "unknown";
}

bool
mp_dns_status_is_temp(enum mp_dns_status st)
{
	return st == MP_DNS_SERVFAIL || st == MP_DNS_TIMEOUT || st == MP_DNS_ERROR;
}

/*
 * Reverse names.
 */
bool
mp_dns_reverse_name(const char *ip, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct in_addr a4;
	struct in6_addr a6;
	const unsigned char *b;
	struct mp_buf buf = MP_BUF_INIT;
	bool ok;

	if (out == NULL || outlen == 0)
		return false;
	out[0] = '\0';
	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		b = (const unsigned char *)&a4;
		mp_buf_printf(&buf, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
	} else if (inet_pton(AF_INET6, ip, &a6) == 1) {
		b = a6.s6_addr;
		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			mp_buf_printf(&buf, "%u.%u.%u.%u.in-addr.arpa",
			    b[15], b[14], b[13], b[12]);
		} else {
			for (int i = 15; i >= 0; i--) {
				mp_buf_putc(&buf, hex[b[i] & 0x0f]);
				mp_buf_putc(&buf, '.');
				mp_buf_putc(&buf, hex[b[i] >> 4]);
				mp_buf_putc(&buf, '.');
			}
			mp_buf_puts(&buf, "ip6.arpa");
		}
	} else
		return false;
	ok = mp_strlcpy(out, mp_buf_str(&buf), outlen);
	if (!ok)
		out[0] = '\0';
	mp_buf_free(&buf);
	return ok;
}

/*
 * Rdata parsing. Every length is checked against the rdata length that
 * libunbound reports; nothing is trusted from the data itself.
 */
static bool
label_byte_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void
name_putc(struct mp_buf *out, unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	if (label_byte_plain(c))
		mp_buf_putc(out, (char)c);
	else
		mp_buf_printf(out, "\\%03u", c);
}

/*
 * Decodes an uncompressed wire-format name at rd[*off..len) into out (see
 * dns.h for the text form), advancing *off past it. libunbound hands over
 * rdata with names already decompressed; a compression pointer here means
 * corrupt data, so it is refused rather than followed.
 */
static bool
name_from_wire(const unsigned char *rd, size_t len, size_t *off, struct mp_buf *out,
    const char **why_r)
{
	size_t p = *off, wire = 0;
	bool first = true;

	for (;;) {
		unsigned lab;

		if (p >= len) {
			*why_r = "name runs past the rdata";
			return false;
		}
		lab = rd[p++];
		wire++;
		if (lab == 0)
			break;
		if (lab > 63) {
			*why_r = (lab & 0xc0) == 0xc0 ? "compressed name in rdata" :
			    "bad label length in rdata";
			return false;
		}
		if (lab > len - p) {
			*why_r = "label runs past the rdata";
			return false;
		}
		wire += lab;
		if (wire > MP_DNS_NAME_MAX) {
			*why_r = "name longer than 255 bytes";
			return false;
		}
		if (!first)
			mp_buf_putc(out, '.');
		first = false;
		for (unsigned i = 0; i < lab; i++)
			name_putc(out, rd[p + i]);
		p += lab;
	}
	*off = p;
	return true;
}

void
mp_dns_rr_clear(struct mp_dns_rr *rr)
{
	if (rr == NULL)
		return;
	free(rr->text);
	free(rr->tlsa_data);
	memset(rr, 0, sizeof(*rr));
}

static bool
parse_txt(const unsigned char *rd, size_t len, struct mp_buf *out, const char **why_r)
{
	size_t p = 0;

	if (len == 0) {
		*why_r = "empty TXT rdata";
		return false;
	}
	while (p < len) {
		size_t n = rd[p++];

		if (n > len - p) {
			*why_r = "TXT string runs past the rdata";
			return false;
		}
		if (n > MP_DNS_MAX_TXT - out->len) {
			*why_r = "TXT record longer than MP_DNS_MAX_TXT";
			return false;
		}
		mp_buf_append(out, rd + p, n);
		p += n;
	}
	return true;
}

bool
mp_dns_parse_rdata(enum mp_dns_type type, const unsigned char *rd, size_t len,
    struct mp_dns_rr *rr_r, const char **why_r)
{
	static const char hex[] = "0123456789abcdef";
	struct mp_buf text = MP_BUF_INIT;
	char addr[INET6_ADDRSTRLEN];
	size_t off = 0;
	const char *why = NULL;

	memset(rr_r, 0, sizeof(*rr_r));
	rr_r->type = type;
	if (rd == NULL && len > 0) {
		*why_r = "no rdata";
		return false;
	}
	switch (type) {
	case MP_DNS_A:
		if (len != 4) {
			why = "A rdata is not 4 bytes";
			break;
		}
		memcpy(&rr_r->a, rd, 4);
		inet_ntop(AF_INET, &rr_r->a, addr, sizeof(addr));
		mp_buf_puts(&text, addr);
		break;
	case MP_DNS_AAAA:
		if (len != 16) {
			why = "AAAA rdata is not 16 bytes";
			break;
		}
		memcpy(&rr_r->aaaa, rd, 16);
		inet_ntop(AF_INET6, &rr_r->aaaa, addr, sizeof(addr));
		mp_buf_puts(&text, addr);
		break;
	case MP_DNS_MX:
		if (len < 3) {
			why = "MX rdata too short";
			break;
		}
		rr_r->mx_pref = (uint16_t)(rd[0] << 8 | rd[1]);
		off = 2;
		/* FALLTHROUGH */
	case MP_DNS_PTR:
	case MP_DNS_CNAME:
		if (!name_from_wire(rd, len, &off, &text, &why))
			break;
		if (off != len)
			why = "trailing bytes after the name";
		break;
	case MP_DNS_TXT:
	case MP_DNS_SPF:
		parse_txt(rd, len, &text, &why);
		break;
	case MP_DNS_TLSA:
		if (len < 4) {
			why = "TLSA rdata too short";
			break;
		}
		rr_r->tlsa_usage = rd[0];
		rr_r->tlsa_selector = rd[1];
		rr_r->tlsa_mtype = rd[2];
		rr_r->tlsa_len = len - 3;
		rr_r->tlsa_data = xmalloc(rr_r->tlsa_len);
		memcpy(rr_r->tlsa_data, rd + 3, rr_r->tlsa_len);
		/* The presentation form, for reports. */
		mp_buf_printf(&text, "%u %u %u ", rd[0], rd[1], rd[2]);
		for (size_t i = 3; i < len; i++) {
			mp_buf_putc(&text, hex[rd[i] >> 4]);
			mp_buf_putc(&text, hex[rd[i] & 0x0f]);
		}
		break;
	default:
		why = "unsupported record type";
		break;
	}
	if (why != NULL) {
		mp_buf_free(&text);
		mp_dns_rr_clear(rr_r);
		*why_r = why;
		return false;
	}
	rr_r->text_len = text.len;
	rr_r->text = mp_buf_steal(&text);
	return true;
}

/*
 * Query names.
 */
static bool
query_name_ok(const char *name)
{
	size_t len, lab = 0;

	if (name == NULL)
		return false;
	len = strnlen(name, MP_DNS_NAME_MAX + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		/*
		 * Backslash would start an escape in libunbound's parser.
		 * Space is allowed: DNS labels may hold any octet, and SPF
		 * macro expansion can produce one (RFC 7208 suite,
		 * macro-mania-in-domain); controls never reach a query.
		 */
		if (c < 0x20 || c > 0x7e || c == '\\')
			return false;
		if (++lab > 63)
			return false;
	}
	return true;
}

/* canonname comes as text from libunbound: normalise it like rdata names. */
static char *
canon_text(const char *s)
{
	struct mp_buf out = MP_BUF_INIT;
	size_t len = strnlen(s, 4 * MP_DNS_NAME_MAX);

	if (len > 0 && s[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.')
			mp_buf_putc(&out, '.');
		else
			name_putc(&out, (unsigned char)s[i]);
	}
	return mp_buf_steal(&out);
}

static bool
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && mp_strncasecmp(a, b, la) == 0;
}

/*
 * Context.
 */
static bool
ub_ok(int rc, const char *what, char *err, size_t errlen)
{
	if (rc == 0)
		return true;
	snprintf(err, errlen, "dns: %s: %s", what, ub_strerror(rc));
	return false;
}

struct mp_dns *
mp_dns_new(const struct mp_dns_options *opt, char *err, size_t errlen)
{
	/*
	 * libunbound answers these reverse zones itself (NXDOMAIN) unless
	 * told not to: the documentation prefixes used in tests and examples.
	 * A forwarding resolver should ask its upstream, which may serve them.
	 */
	static const char *nodefault[] = {
		"2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
		"113.0.203.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
	};
	struct mp_dns *dns;
	char buf[128];
	FILE *fp;

	if (err == NULL || errlen == 0)
		return NULL;
	err[0] = '\0';
	if (opt == NULL) {
		snprintf(err, errlen, "dns: no options");
		return NULL;
	}
	dns = xcalloc(1, sizeof(*dns));
	dns->wake[0] = dns->wake[1] = -1;
	dns->timeout_ms = opt->timeout_ms ? opt->timeout_ms : MP_DNS_DEFAULT_TIMEOUT_MS;
	if ((dns->ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "dns: ub_ctx_create failed");
		goto fail;
	}
	/* Threaded, never forked: see the top of this file. */
	if (!ub_ok(ub_ctx_async(dns->ctx, 1), "async mode", err, errlen))
		goto fail;
	/* A loopback forwarder (a local unbound, or NSD in tests) is normal. */
	if (!ub_ok(ub_ctx_set_option(dns->ctx, "do-not-query-localhost:", "no"),
	    "do-not-query-localhost", err, errlen))
		goto fail;
	/* Reverse lookups of RFC 1918 clients go to the site's resolver. */
	if (!ub_ok(ub_ctx_set_option(dns->ctx, "unblock-lan-zones:", "yes"),
	    "unblock-lan-zones", err, errlen))
		goto fail;
	if (!ub_ok(ub_ctx_set_option(dns->ctx, "insecure-lan-zones:", "yes"),
	    "insecure-lan-zones", err, errlen))
		goto fail;
	for (size_t i = 0; i < MP_ARRAY_SIZE(nodefault); i++) {
		snprintf(buf, sizeof(buf), "%s nodefault", nodefault[i]);
		if (!ub_ok(ub_ctx_set_option(dns->ctx, "local-zone:", buf),
		    "local-zone", err, errlen))
			goto fail;
	}
	if (opt->upstream != NULL && opt->upstream[0] != '\0') {
		int rc = ub_ctx_set_fwd(dns->ctx, opt->upstream);

		if (rc != 0) {
			struct mp_buf p = MP_BUF_INIT;

			mp_printable(&p, opt->upstream, strlen(opt->upstream), 64);
			snprintf(err, errlen, "dns: bad upstream \"%s\" (want an IP "
			    "address, optionally @port): %s", mp_buf_str(&p), ub_strerror(rc));
			mp_buf_free(&p);
			goto fail;
		}
	} else if (!ub_ok(ub_ctx_resolvconf(dns->ctx, NULL), "/etc/resolv.conf",
	    err, errlen))
		goto fail;
	if (opt->trust_anchor_file != NULL && opt->trust_anchor_file[0] != '\0') {
		/* libunbound reads it only at the first query: fail here instead. */
		if ((fp = fopen(opt->trust_anchor_file, "r")) == NULL) {
			snprintf(err, errlen, "dns: trust anchor %s: %s",
			    opt->trust_anchor_file, strerror(errno));
			goto fail;
		}
		fclose(fp);
		if (!ub_ok(ub_ctx_add_ta_file(dns->ctx, opt->trust_anchor_file),
		    "trust anchor", err, errlen))
			goto fail;
	}
	/*
	 * Finalise the configuration now, so that a bad trust anchor file
	 * fails here and not at the first message: removing a zone that does
	 * not exist is the one public call that finalises without side effect.
	 */
	if (!ub_ok(ub_ctx_zone_remove(dns->ctx, "mailposture-finalize.invalid."),
	    "libunbound refused the configuration (bad trust anchor file?)", err, errlen))
		goto fail;
	if (pipe(dns->wake) == -1) {
		snprintf(err, errlen, "dns: pipe: %s", strerror(errno));
		goto fail;
	}
	for (int i = 0; i < 2; i++)
		(void)fcntl(dns->wake[i], F_SETFD, FD_CLOEXEC);
	pthread_mutex_init(&dns->mu, NULL);
	if (!opt->no_cache)
		dns->cache = mp_dnscache_new();
	return dns;
fail:
	if (dns->ctx != NULL)
		ub_ctx_delete(dns->ctx);
	for (int i = 0; i < 2; i++)
		if (dns->wake[i] != -1)
			close(dns->wake[i]);
	free(dns);
	return NULL;
}

void
mp_dns_free(struct mp_dns **dnsp)
{
	struct mp_dns *dns;

	if (dnsp == NULL || (dns = *dnsp) == NULL)
		return;
	*dnsp = NULL;
	if (dns->started) {
		char c = 'q';

		while (write(dns->wake[1], &c, 1) == -1 && errno == EINTR)
			;
		pthread_join(dns->thread, NULL);
	}
	/* Queries still in the worker are dropped without callbacks. */
	ub_ctx_delete(dns->ctx);
	close(dns->wake[0]);
	close(dns->wake[1]);
	pthread_mutex_destroy(&dns->mu);
	mp_dnscache_free(&dns->cache);
	free(dns);
}

void
mp_dns_cache_stats(struct mp_dns *dns, struct mp_dnscache_stats *st_r)
{
	mp_dnscache_stats(dns != NULL ? dns->cache : NULL, st_r);
}

/*
 * Dispatcher.
 */
/* The callback needs the mp_dns for its lock; this pairs the two. */
struct dns_cb {
	struct mp_dns *dns;
	struct dns_query q;
	pthread_cond_t cv;      /* signalled when this query completes */
	struct dns_cb *prev, *next; /* in dns->waiting while a waiter waits */
};

static struct dns_cb *
cb_new(struct mp_dns *dns)
{
	struct dns_cb *cb = xcalloc(1, sizeof(*cb));
	pthread_condattr_t ca;

	cb->dns = dns;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cb->cv, &ca);
	pthread_condattr_destroy(&ca);
	return cb;
}

static void
cb_free(struct dns_cb *cb)
{
	pthread_cond_destroy(&cb->cv);
	free(cb);
}

/* Under dns->mu. */
static void
cb_link(struct mp_dns *dns, struct dns_cb *cb)
{
	cb->prev = NULL;
	cb->next = dns->waiting;
	if (dns->waiting != NULL)
		dns->waiting->prev = cb;
	dns->waiting = cb;
}

/* Under dns->mu. */
static void
cb_unlink(struct mp_dns *dns, struct dns_cb *cb)
{
	if (cb->prev != NULL)
		cb->prev->next = cb->next;
	else
		dns->waiting = cb->next;
	if (cb->next != NULL)
		cb->next->prev = cb->prev;
	cb->prev = cb->next = NULL;
}

static void
cb_done(void *arg, int err, struct ub_result *res)
{
	struct dns_cb *cb = arg;
	struct mp_dns *dns = cb->dns;
	bool orphan;

	pthread_mutex_lock(&dns->mu);
	orphan = cb->q.abandoned;
	if (!orphan) {
		cb->q.done = true;
		cb->q.err = err;
		cb->q.res = res;
		pthread_cond_signal(&cb->cv);
	}
	pthread_mutex_unlock(&dns->mu);
	if (orphan) {
		ub_resolve_free(res);
		cb_free(cb);
	}
}

static void *
dispatcher(void *arg)
{
	struct mp_dns *dns = arg;
	struct pollfd pfd[2];

	pfd[0].fd = ub_fd(dns->ctx);
	pfd[0].events = POLLIN;
	pfd[1].fd = dns->wake[0];
	pfd[1].events = POLLIN;
	for (;;) {
		int rc;

		pfd[0].revents = pfd[1].revents = 0;
		rc = poll(pfd, 2, -1);
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			mp_log(LOG_ERR, "dns: poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents != 0)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			mp_log(LOG_ERR, "dns: resolver pipe closed");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			rc = ub_process(dns->ctx);
			if (rc != 0) {
				mp_log(LOG_ERR, "dns: ub_process: %s", ub_strerror(rc));
				break;
			}
		}
	}
	/* Waiters must not sit out their whole timeout for nothing. */
	pthread_mutex_lock(&dns->mu);
	dns->broken = true;
	for (struct dns_cb *cb = dns->waiting; cb != NULL; cb = cb->next)
		pthread_cond_signal(&cb->cv);
	pthread_mutex_unlock(&dns->mu);
	return NULL;
}

/* Under dns->mu. Signals stay with the program's own threads. */
static bool
dispatcher_start(struct mp_dns *dns)
{
	sigset_t all, old;
	int rc;

	if (dns->started)
		return true;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&dns->thread, NULL, dispatcher, dns);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		mp_log(LOG_ERR, "dns: pthread_create: %s", strerror(rc));
		return false;
	}
	dns->started = true;
	return true;
}

/*
 * Queries.
 */
struct mp_dns_result *
mp_dns_result_new(enum mp_dns_status st, const char *why)
{
	struct mp_dns_result *r = xcalloc(1, sizeof(*r));

	r->status = st;
	if (why != NULL)
		r->why = xstrdup(why);
	return r;
}

static void
result_fail(struct mp_dns_result *r, enum mp_dns_status st, const char *why)
{
	for (size_t i = 0; i < r->count; i++)
		mp_dns_rr_clear(&r->rr[i]);
	free(r->rr);
	r->rr = NULL;
	r->count = 0;
	r->status = st;
	free(r->why);
	r->why = xstrdup(why);
}

static const char *
rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	default:
		return "other";
	}
}

/* Steps over a possibly compressed name in a DNS message; false if cut. */
static bool
pkt_skip_name(const unsigned char *pkt, size_t len, size_t *off)
{
	size_t p = *off;

	for (;;) {
		unsigned c;

		if (p >= len)
			return false;
		c = pkt[p];
		if (c == 0) {
			p++;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			if (len - p < 2)
				return false;
			p += 2;
			break;
		}
		if (c & 0xc0)
			return false;
		p += 1 + c;
	}
	*off = p;
	return true;
}

/*
 * Measured: in forward mode, when the upstream is an authoritative-only
 * server (NSD in the tests, or a misconfigured upstream), a delegation
 * comes back as a referral and libunbound reports it as NOERROR with no
 * data, which would read as "the record is missing". A real negative
 * answer carries the zone's SOA in the authority section; a referral
 * carries NS records and no SOA. Returns 1 for a referral, 0 for a real
 * NODATA, -1 if the message does not parse.
 */
static int
answer_is_referral(const unsigned char *pkt, size_t len)
{
	unsigned qd, an, ns;
	size_t p = 12;
	bool saw_ns = false, saw_soa = false;

	if (pkt == NULL || len < 12)
		return -1;
	qd = (unsigned)pkt[4] << 8 | pkt[5];
	an = (unsigned)pkt[6] << 8 | pkt[7];
	ns = (unsigned)pkt[8] << 8 | pkt[9];
	for (unsigned i = 0; i < qd; i++) {
		if (!pkt_skip_name(pkt, len, &p) || len - p < 4)
			return -1;
		p += 4;
	}
	for (unsigned i = 0; i < an + ns; i++) {
		unsigned type, rdlen;

		if (!pkt_skip_name(pkt, len, &p) || len - p < 10)
			return -1;
		type = (unsigned)pkt[p] << 8 | pkt[p + 1];
		rdlen = (unsigned)pkt[p + 8] << 8 | pkt[p + 9];
		p += 10;
		if (rdlen > len - p)
			return -1;
		p += rdlen;
		if (i >= an) {
			if (type == 2)
				saw_ns = true;
			else if (type == 6)
				saw_soa = true;
		}
	}
	return saw_ns && !saw_soa ? 1 : 0;
}

/* Turns a libunbound result into ours; the answer is whole or empty. */
static void
fill_result(struct mp_dns_result *r, const char *qname, enum mp_dns_type type,
    const struct ub_result *ur)
{
	char why[160];
	size_t n = 0;

	r->secure = ur->secure != 0;
	r->bogus = ur->bogus != 0;
	if (ur->canonname != NULL && !same_name(ur->canonname, qname))
		r->canonname = canon_text(ur->canonname);
	if (ur->bogus) {
		struct mp_buf p = MP_BUF_INIT;

		mp_buf_puts(&p, "DNSSEC validation failed: ");
		if (ur->why_bogus != NULL)
			mp_printable(&p, ur->why_bogus, strlen(ur->why_bogus), 120);
		r->status = MP_DNS_SERVFAIL;
		r->why = mp_buf_steal(&p);
		return;
	}
	if (ur->rcode == DNS_RCODE_NXDOMAIN) {
		r->status = MP_DNS_NXDOMAIN;
		return;
	}
	if (ur->rcode != 0) {
		snprintf(why, sizeof(why), "rcode %d (%s)", ur->rcode, rcode_name(ur->rcode));
		r->status = MP_DNS_SERVFAIL;
		r->why = xstrdup(why);
		return;
	}
	if (!ur->havedata || ur->data == NULL || ur->data[0] == NULL) {
		switch (answer_is_referral(ur->answer_packet,
		    ur->answer_len > 0 ? (size_t)ur->answer_len : 0)) {
		case 0:
			r->status = MP_DNS_NODATA;
			break;
		case 1:
			r->status = MP_DNS_SERVFAIL;
			r->why = xstrdup("referral instead of an answer: "
			    "the upstream does not recurse");
			break;
		default:
			r->status = MP_DNS_ERROR;
			r->why = xstrdup("malformed negative answer");
			break;
		}
		return;
	}
	while (n < MP_DNS_MAX_RR && ur->data[n] != NULL)
		n++;
	if (ur->data[n] != NULL)
		mp_log(LOG_DEBUG, "dns: more than %d records, the rest dropped", MP_DNS_MAX_RR);
	r->rr = xcalloc(n, sizeof(*r->rr));
	for (size_t i = 0; i < n; i++) {
		const char *pwhy;

		if (ur->len[i] < 0 || !mp_dns_parse_rdata(type,
		    (const unsigned char *)ur->data[i], (size_t)ur->len[i],
		    &r->rr[i], &pwhy)) {
			if (ur->len[i] < 0)
				pwhy = "negative rdata length";
			snprintf(why, sizeof(why), "malformed answer: %s", pwhy);
			result_fail(r, MP_DNS_ERROR, why);
			return;
		}
		r->count = i + 1;
	}
	r->status = MP_DNS_OK;
}

#ifdef MP_DNS_FAKE
/* The fuzzing hook (dns.h): compiled only into the fuzz build. */
static mp_dns_fake_fn fake_fn;
static void *fake_arg;

void
mp_dns_set_fake(mp_dns_fake_fn fn, void *arg)
{
	fake_fn = fn;
	fake_arg = arg;
}
#endif

struct mp_dns_result *
mp_dns_query(struct mp_dns *dns, const struct mp_deadline *deadline,
    const char *name, enum mp_dns_type type)
{
	struct mp_dns_result *r;
	struct dns_cb *cb;
	struct timespec ts;
	unsigned wait_ms, left;
	unsigned long long end;
	int id = 0, rc;
	bool done, broken;

	if (dns == NULL)
		return mp_dns_result_new(MP_DNS_ERROR, "no resolver");
	if (!query_name_ok(name))
		return mp_dns_result_new(MP_DNS_ERROR, "bad query name");
#ifdef MP_DNS_FAKE
	if (fake_fn != NULL)
		return fake_fn(fake_arg, name, type);
#endif
	if ((r = mp_dnscache_get(dns->cache, name, type, mp_now_ms())) != NULL)
		return r;
	wait_ms = dns->timeout_ms;
	left = mp_deadline_left(deadline);
	if (left < wait_ms)
		wait_ms = left;
	if (wait_ms == 0)
		return mp_dns_result_new(MP_DNS_TIMEOUT, "deadline expired before the query");
	end = mp_now_ms() + wait_ms;

	pthread_mutex_lock(&dns->mu);
	if (dns->broken || !dispatcher_start(dns)) {
		pthread_mutex_unlock(&dns->mu);
		return mp_dns_result_new(MP_DNS_ERROR, "resolver thread not running");
	}
	pthread_mutex_unlock(&dns->mu);

	cb = cb_new(dns);
	pthread_mutex_lock(&dns->mu);
	cb_link(dns, cb);
	pthread_mutex_unlock(&dns->mu);
	rc = ub_resolve_async(dns->ctx, name, (int)type, 1, cb, cb_done, &id);
	if (rc != 0) {
		/* Nothing was queued, so no callback will come. */
		pthread_mutex_lock(&dns->mu);
		cb_unlink(dns, cb);
		pthread_mutex_unlock(&dns->mu);
		cb_free(cb);
		return mp_dns_result_new(MP_DNS_ERROR, ub_strerror(rc));
	}

	pthread_mutex_lock(&dns->mu);
	while (!cb->q.done && !dns->broken) {
		unsigned long long now = mp_now_ms();

		if (now >= end)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((end - now) / 1000);
		ts.tv_nsec += (long)((end - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&cb->cv, &dns->mu, &ts);
	}
	cb_unlink(dns, cb);
	done = cb->q.done;
	broken = dns->broken;
	if (!done)
		cb->q.abandoned = true;
	pthread_mutex_unlock(&dns->mu);

	if (!done) {
		/*
		 * 0: the callback will never run, the query is ours to free.
		 * Otherwise the callback has run or is running, and it frees
		 * cb because of the abandoned mark: do not touch cb again.
		 * A dead dispatcher delivers nothing: cancel then always works.
		 */
		if (ub_cancel(dns->ctx, id) == 0)
			cb_free(cb);
		if (broken)
			return mp_dns_result_new(MP_DNS_ERROR, "resolver thread stopped");
		return mp_dns_result_new(MP_DNS_TIMEOUT, wait_ms < dns->timeout_ms ?
		    "no answer before the deadline" : "no answer within the timeout");
	}

	r = mp_dns_result_new(MP_DNS_OK, NULL);
	if (cb->q.err != 0 || cb->q.res == NULL) {
		int err = cb->q.err ? cb->q.err : UB_NOMEM;

		r->status = err == UB_SERVFAIL ? MP_DNS_SERVFAIL : MP_DNS_ERROR;
		r->why = xstrdup(ub_strerror(err));
	} else {
		fill_result(r, name, type, cb->q.res);
		mp_dnscache_put(dns->cache, name, type, r, cb->q.res->ttl, mp_now_ms());
	}
	ub_resolve_free(cb->q.res);
	cb_free(cb);
	return r;
}

void
mp_dns_result_free(struct mp_dns_result **resp)
{
	struct mp_dns_result *r;

	if (resp == NULL || (r = *resp) == NULL)
		return;
	*resp = NULL;
	for (size_t i = 0; i < r->count; i++)
		mp_dns_rr_clear(&r->rr[i]);
	free(r->rr);
	free(r->canonname);
	free(r->why);
	free(r);
}

struct mp_dns_result *
mp_dns_result_dup(const struct mp_dns_result *r)
{
	struct mp_dns_result *d = xcalloc(1, sizeof(*d));

	d->status = r->status;
	d->secure = r->secure;
	d->bogus = r->bogus;
	if (r->canonname != NULL)
		d->canonname = xstrdup(r->canonname);
	if (r->why != NULL)
		d->why = xstrdup(r->why);
	if (r->count > 0) {
		d->rr = xcalloc(r->count, sizeof(*d->rr));
		for (size_t i = 0; i < r->count; i++) {
			const struct mp_dns_rr *a = &r->rr[i];
			struct mp_dns_rr *b = &d->rr[i];

			*b = *a;
			/* text may hold NUL bytes: copy by length. */
			if (a->text != NULL) {
				b->text = xmalloc(a->text_len + 1);
				memcpy(b->text, a->text, a->text_len + 1);
			}
			if (a->tlsa_data != NULL) {
				b->tlsa_data = xmalloc(a->tlsa_len ? a->tlsa_len : 1);
				memcpy(b->tlsa_data, a->tlsa_data, a->tlsa_len);
			}
		}
		d->count = r->count;
	}
	return d;
}

size_t
mp_dns_result_size(const struct mp_dns_result *r)
{
	size_t n = sizeof(*r) + r->count * sizeof(*r->rr);

	if (r->canonname != NULL)
		n += strlen(r->canonname) + 1;
	if (r->why != NULL)
		n += strlen(r->why) + 1;
	for (size_t i = 0; i < r->count; i++) {
		if (r->rr[i].text != NULL)
			n += r->rr[i].text_len + 1;
		n += r->rr[i].tlsa_len;
	}
	return n;
}
