/*
 * grade: the check table (names, weights, why), the setters the judges
 * fill the report with, and the rubric.
 *
 * Score = 100 x sum(weight x factor) / sum(weight) over the checks that
 * ran, factor PASS 1, WARN 0.5, FAIL 0; NOT TESTED and INFO are out of
 * both sides. Then caps: an open relay caps the grade at F, a listing on
 * a configured DNSBL at D, plaintext AUTH before STARTTLS at C. README
 * ("mailposture-audit") documents the same table.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"

const struct audit_check_def audit_defs[CHK_COUNT] = {
	[CHK_SMTP] = { "smtp.service", "SMTP Service", 5,
	    "A server that stalls, drops connections or speaks garbage loses mail and hides problems." },
	[CHK_BANNER] = { "smtp.banner", "Banner Disclosure", 2,
	    "A software version in the banner tells attackers which exploits to try." },
	[CHK_EHLO] = { "smtp.ehlo", "EHLO Capabilities", 0,
	    "What the server announces decides which other checks apply." },
	[CHK_HELP] = { "smtp.help", "HELP Command Exposure", 2,
	    "HELP output can disclose the software and its version." },
	[CHK_VRFY] = { "smtp.vrfy", "VRFY Command Exposure", 8,
	    "If VRFY answers differ between real and unknown users, spammers can harvest valid addresses." },
	[CHK_EXPN] = { "smtp.expn", "EXPN Command Exposure", 6,
	    "EXPN can reveal the members of mailing lists and aliases, and which users exist." },
	[CHK_STARTTLS] = { "tls.starttls", "STARTTLS", 10,
	    "Without STARTTLS, mail to and from this host crosses the network in clear text." },
	[CHK_TLS_CERT] = { "tls.certificate", "TLS Certificate", 6,
	    "MTA-STS and DANE senders refuse a certificate that is expired, untrusted or for another name." },
	[CHK_TLS_INJECT] = { "tls.injection", "STARTTLS Command Injection", 5,
	    "A server that runs commands sent in plaintext before the handshake lets an attacker inject them into the TLS session (CVE-2011-0411)." },
	[CHK_AUTH] = { "smtp.auth", "SMTP Authentication", 10,
	    "PLAIN and LOGIN send the password readably: offered before STARTTLS, they invite clients to leak it." },
	[CHK_RELAY] = { "smtp.relay", "Open Mail Relay", 20,
	    "An open relay is abused for spam within hours and then blocklisted everywhere." },
	[CHK_MX] = { "dns.mx", "MX Record", 4,
	    "Senders find the mail host of the domain through its MX records." },
	[CHK_PTR] = { "dns.ptr", "PTR Record", 6,
	    "Many receivers reject mail from an IP without forward-confirmed reverse DNS, or whose PTR does not match the HELO name." },
	[CHK_SPF] = { "dns.spf", "SPF Record", 10,
	    "SPF tells receivers which hosts may send mail for the domain." },
	[CHK_DMARC] = { "dns.dmarc", "DMARC Policy", 10,
	    "DMARC tells receivers what to do with mail that fails SPF and DKIM alignment, and where to report it." },
	[CHK_DMARC_REPORT] = { "dns.dmarc_report_auth", "DMARC Report Authorization", 2,
	    "Reports sent to another domain are delivered only if that domain publishes an authorization record (RFC 7489 7.1)." },
	[CHK_SPOOF] = { "dns.spoofing", "Email Spoofing", 8,
	    "Only SPF with a DMARC policy that quarantines or rejects stops others from sending as this domain." },
	[CHK_MTASTS] = { "dns.mta_sts", "MTA-STS", 3,
	    "MTA-STS makes senders insist on TLS with a valid certificate (RFC 8461)." },
	[CHK_TLSRPT] = { "dns.tls_rpt", "TLS-RPT", 2,
	    "TLS-RPT reports tell you when senders could not deliver over TLS (RFC 8460)." },
	[CHK_DANE] = { "dns.dane", "DANE TLSA", 3,
	    "DNSSEC-signed TLSA records protect STARTTLS against downgrade and impersonation (RFC 7672)." },
	[CHK_DNSBL] = { "dns.dnsbl", "DNS Blocklists", 10,
	    "A listed IP has its mail rejected or filtered by the receivers that use the list." },
	[CHK_POSTCONF] = { "host.postconf", "Postfix Settings", 6,
	    "The settings behind the probes: they show a problem even where a probe cannot reach it." },
	[CHK_MILTER] = { "host.milter", "Milter Wiring", 4,
	    "If the milter socket does not answer, Postfix applies milter_default_action to every message." },
	[CHK_PSL] = { "host.psl", "Public Suffix List", 2,
	    "DMARC needs the Public Suffix List to find organizational domains." },
	[CHK_RESOLVER] = { "host.resolver", "DNS Resolver", 2,
	    "SPF and DMARC checks need a resolver that answers." },
	[CHK_REDIS] = { "host.redis", "Redis", 2,
	    "The milter records verdicts and scores in Redis for mailposture-report." },
};

const char *
audit_status_str(enum audit_status s)
{
	switch (s) {
	case AUDIT_PASS: return "PASS";
	case AUDIT_WARN: return "WARN";
	case AUDIT_FAIL: return "FAIL";
	case AUDIT_INFO: return "INFO";
	case AUDIT_NOT_TESTED: return "NOT TESTED";
	}
	return "?";
}

void
audit_report_init(struct audit_report *r)
{
	memset(r, 0, sizeof(*r));
	r->score = -1;
	for (int i = 0; i < CHK_COUNT; i++)
		snprintf(r->check[i].finding, sizeof(r->check[i].finding), "not run");
}

void
audit_report_clear(struct audit_report *r)
{
	for (int i = 0; i < CHK_COUNT; i++)
		mp_buf_free(&r->check[i].evidence);
}

void
audit_printable(char *dst, size_t dstlen, const char *src, size_t len, size_t max)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, src, len, max);
	mp_strlcpy(dst, mp_buf_str(&b), dstlen);
	mp_buf_free(&b);
}

void
audit_list_add(struct mp_buf *list, const char *sep, const char *fmt, ...)
{
	va_list ap;

	if (list->len > 0)
		mp_buf_puts(list, sep);
	va_start(ap, fmt);
	mp_buf_vprintf(list, fmt, ap);
	va_end(ap);
}

void
audit_set(struct audit_report *r, enum audit_check_id id, enum audit_status st,
    const char *fmt, ...)
{
	struct audit_check *c = &r->check[id];
	struct mp_buf raw = MP_BUF_INIT;
	va_list ap;

	c->status = st;
	c->set = true;
	va_start(ap, fmt);
	mp_buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	audit_printable(c->finding, sizeof(c->finding), raw.data ? raw.data : "", raw.len,
	    sizeof(c->finding) - 8);
	mp_buf_free(&raw);
}

void
audit_fix(struct audit_report *r, enum audit_check_id id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->check[id].fix, sizeof(r->check[id].fix), fmt, ap);
	va_end(ap);
}

void
audit_evidence(struct audit_report *r, enum audit_check_id id, const char *fmt, ...)
{
	struct audit_check *c = &r->check[id];
	struct mp_buf raw = MP_BUF_INIT;
	va_list ap;

	if (c->evidence.len > 16384)
		return;     /* evidence is for reading, not an archive */
	va_start(ap, fmt);
	mp_buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	if (c->evidence.len > 0)
		mp_buf_putc(&c->evidence, '\n');
	mp_printable(&c->evidence, raw.data ? raw.data : "", raw.len, MP_SHOW_EVIDENCE);
	mp_buf_free(&raw);
}

static const struct {
	const char *letter;
	int min;
} letters[] = {
	{ "A+", 100 }, { "A", 90 }, { "A-", 85 }, { "B+", 80 }, { "B", 70 }, { "B-", 65 },
	{ "C+", 60 }, { "C", 50 }, { "C-", 45 }, { "D+", 40 }, { "D", 30 }, { "D-", 25 },
	{ "F", 0 },
};

const char *
audit_letter(int score)
{
	for (size_t i = 0; i < MP_ARRAY_SIZE(letters); i++)
		if (score >= letters[i].min)
			return letters[i].letter;
	return "F";
}

int
audit_grade_rank(const char *grade)
{
	for (size_t i = 0; i < MP_ARRAY_SIZE(letters); i++)
		if (mp_strcasecmp(grade, letters[i].letter) == 0)
			return (int)i;
	return -1;
}

void
audit_grade(struct audit_report *r)
{
	static const char *cap_letter[] = { NULL, "C", "D", "F" };
	static const char *cap_why[] = { NULL,
	    "capped at C: plaintext AUTH is offered before STARTTLS",
	    "capped at D: the IP is listed on a DNSBL",
	    "capped at F: the server is an open relay" };
	const char *letter;

	r->earned = r->possible = 0;
	r->cap = CAP_NONE;
	r->cap_reason = NULL;
	for (int i = 0; i < CHK_COUNT; i++) {
		const struct audit_check *c = &r->check[i];
		double w = audit_defs[i].weight;

		if (c->status == AUDIT_FAIL && c->cap > r->cap)
			r->cap = c->cap;
		switch (c->status) {
		case AUDIT_PASS: r->earned += w; r->possible += w; break;
		case AUDIT_WARN: r->earned += w / 2; r->possible += w; break;
		case AUDIT_FAIL: r->possible += w; break;
		default: break;
		}
	}
	if (r->possible <= 0) {
		r->score = -1;
		snprintf(r->grade, sizeof(r->grade), "?");
		return;
	}
	/* Truncated: A+ needs every scored check to pass. */
	r->score = (int)(100.0 * r->earned / r->possible);
	letter = audit_letter(r->score);
	if (r->cap != CAP_NONE &&
	    audit_grade_rank(letter) < audit_grade_rank(cap_letter[r->cap])) {
		letter = cap_letter[r->cap];
		r->cap_reason = cap_why[r->cap];
	}
	snprintf(r->grade, sizeof(r->grade), "%s", letter);
}
