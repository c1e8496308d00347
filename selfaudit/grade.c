/*
 * grade: the check table (names, weights, why), the setters the judges
 * fill the report with, and the rubric.
 *
 * Score = 100 x sum(weight x factor) / sum(weight) over the checks that
 * ran, factor PASS 1, WARN 0.5, FAIL 0; NOT TESTED and INFO are out of
 * both sides. Then caps, from the table's cap column, for the FAILs whose
 * judge said so: an open relay caps the grade at F, a DNSBL listing or
 * DNSSEC-validated TLSA records that match nothing at D, plaintext AUTH
 * before STARTTLS at C. README ("mailposture-audit") and the manual page
 * document the same table.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"

#define CAPPED(letter, why) CAP_##letter, "capped at " #letter ": " why
#define UNCAPPED CAP_NONE, NULL

const struct audit_check_def audit_defs[CHK_COUNT] = {
	[CHK_SMTP] = { "smtp.service", "SMTP Service", 5,
	    "A server that stalls, drops connections or speaks garbage loses mail and hides problems.", UNCAPPED },
	[CHK_BANNER] = { "smtp.banner", "Banner Disclosure", 2,
	    "A software version in the banner tells attackers which exploits to try.", UNCAPPED },
	[CHK_HOSTNAME] = { "smtp.hostname", "Banner Host Name", 3,
	    "Receivers and blocklists compare the name a server greets with to its PTR and to what that name resolves to.", UNCAPPED },
	[CHK_EHLO] = { "smtp.ehlo", "EHLO Capabilities", 0,
	    "What the server announces decides which other checks apply.", UNCAPPED },
	[CHK_HELP] = { "smtp.help", "HELP Command Exposure", 2,
	    "HELP output can disclose the software and its version.", UNCAPPED },
	[CHK_VRFY] = { "smtp.vrfy", "VRFY Command Exposure", 8,
	    "If VRFY answers differ between real and unknown users, spammers can harvest valid addresses.", UNCAPPED },
	[CHK_EXPN] = { "smtp.expn", "EXPN Command Exposure", 6,
	    "EXPN can reveal the members of mailing lists and aliases, and which users exist.", UNCAPPED },
	[CHK_STARTTLS] = { "tls.starttls", "STARTTLS", 10,
	    "Without STARTTLS, mail to and from this host crosses the network in clear text.", UNCAPPED },
	[CHK_TLS_CERT] = { "tls.certificate", "TLS Certificate", 6,
	    "MTA-STS and DANE senders refuse a certificate that is expired, untrusted, sent without its chain or for another name.", UNCAPPED },
	[CHK_TLS_PROTOCOLS] = { "tls.protocols", "TLS Protocol Versions", 3,
	    "TLS 1.0 and 1.1 are deprecated (RFC 8996): a server that still accepts them lets a downgrade succeed.", UNCAPPED },
	[CHK_TLS_CIPHERS] = { "tls.ciphers", "TLS Cipher Suites", 4,
	    "NULL ciphers send mail unencrypted; without forward secrecy a stolen key decrypts every recorded session.", UNCAPPED },
	[CHK_TLS_INJECT] = { "tls.injection", "STARTTLS Command Injection", 5,
	    "A server that runs commands sent in plaintext before the handshake lets an attacker inject them into the TLS session (CVE-2011-0411).", UNCAPPED },
	[CHK_DANE_MATCH] = { "tls.dane", "DANE Certificate Match", 6,
	    "DANE senders deliver only when a TLSA record matches the certificate or chain the server presents (RFC 7672).",
	    CAPPED(D, "DNSSEC-validated TLSA records match nothing the server presents: DANE senders cannot deliver") },
	[CHK_AUTH] = { "smtp.auth", "SMTP Authentication", 10,
	    "PLAIN and LOGIN send the password readably: offered before STARTTLS, they invite clients to leak it.",
	    CAPPED(C, "plaintext AUTH is offered before STARTTLS") },
	[CHK_RELAY] = { "smtp.relay", "Open Mail Relay", 20,
	    "An open relay is abused for spam within hours and then blocklisted everywhere.",
	    CAPPED(F, "the server is an open relay") },
	[CHK_POSTMASTER] = { "smtp.postmaster", "Postmaster and Abuse", 3,
	    "RFC 5321 requires postmaster@ and RFC 2142 abuse@: the addresses others use to report a problem with this host.", UNCAPPED },
	[CHK_MX] = { "dns.mx", "MX Record", 4,
	    "Senders find the mail host of the domain through its MX records.", UNCAPPED },
	[CHK_MX_PTR] = { "dns.mx_ptr", "MX Hosts Reverse DNS", 3,
	    "Every MX address needs forward-confirmed reverse DNS: mail it sends is rejected without it, whichever MX sends it.", UNCAPPED },
	[CHK_PTR] = { "dns.ptr", "PTR Record", 6,
	    "Many receivers reject mail from an IP without forward-confirmed reverse DNS, or whose PTR does not match the HELO name.", UNCAPPED },
	[CHK_SPF] = { "dns.spf", "SPF Record", 10,
	    "SPF tells receivers which hosts may send mail for the domain.", UNCAPPED },
	[CHK_DMARC] = { "dns.dmarc", "DMARC Policy", 10,
	    "DMARC tells receivers what to do with mail that fails SPF and DKIM alignment, and where to report it.", UNCAPPED },
	[CHK_DMARC_REPORT] = { "dns.dmarc_report_auth", "DMARC Report Authorization", 2,
	    "Reports sent to another domain are delivered only if that domain publishes an authorization record (RFC 7489 7.1).", UNCAPPED },
	[CHK_SPOOF] = { "dns.spoofing", "Email Spoofing", 8,
	    "Only SPF with a DMARC policy that quarantines or rejects stops others from sending as this domain.", UNCAPPED },
	[CHK_MTASTS] = { "dns.mta_sts", "MTA-STS", 3,
	    "MTA-STS makes senders insist on TLS with a valid certificate (RFC 8461).", UNCAPPED },
	[CHK_MTASTS_POLICY] = { "mta_sts.policy", "MTA-STS Policy", 5,
	    "Senders fetch the policy over HTTPS; one that cannot be fetched is ignored, and in enforce mode an MX it does not list gets no mail.", UNCAPPED },
	[CHK_TLSRPT] = { "dns.tls_rpt", "TLS-RPT", 2,
	    "TLS-RPT reports tell you when senders could not deliver over TLS (RFC 8460).", UNCAPPED },
	[CHK_DANE] = { "dns.dane", "DANE TLSA", 3,
	    "DNSSEC-signed TLSA records protect STARTTLS against downgrade and impersonation (RFC 7672).", UNCAPPED },
	[CHK_DNSBL] = { "dns.dnsbl", "DNS Blocklists", 10,
	    "A listed IP has its mail rejected or filtered by the receivers that use the list.",
	    CAPPED(D, "the IP is listed on a DNSBL") },
	[CHK_POSTCONF] = { "host.postconf", "Postfix Settings", 6,
	    "The settings behind the probes: they show a problem even where a probe cannot reach it.",
	    CAPPED(F, "mynetworks with permit_mynetworks makes the server an open relay") },
	[CHK_MILTER] = { "host.milter", "Milter Wiring", 4,
	    "If the milter socket does not answer, Postfix applies milter_default_action to every message.", UNCAPPED },
	[CHK_PSL] = { "host.psl", "Public Suffix List", 2,
	    "DMARC needs the Public Suffix List to find organizational domains.", UNCAPPED },
	[CHK_RESOLVER] = { "host.resolver", "DNS Resolver", 2,
	    "SPF and DMARC checks need a resolver that answers.", UNCAPPED },
	[CHK_REDIS] = { "host.redis", "Redis", 2,
	    "The milter records verdicts and scores in Redis for mailposture-report.", UNCAPPED },
};

#undef CAPPED
#undef UNCAPPED

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
audit_cap(struct audit_report *r, enum audit_check_id id)
{
	r->check[id].cap = audit_defs[id].cap;
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
	const char *letter;

	r->earned = r->possible = 0;
	r->cap = CAP_NONE;
	r->cap_reason = NULL;
	for (int i = 0; i < CHK_COUNT; i++) {
		const struct audit_check *c = &r->check[i];
		double w = audit_defs[i].weight;

		if (c->status == AUDIT_FAIL && c->cap > r->cap) {
			r->cap = c->cap;
			r->cap_reason = audit_defs[i].cap_why;
		}
		switch (c->status) {
		case AUDIT_PASS: r->earned += w; r->possible += w; break;
		case AUDIT_WARN: r->earned += w / 2; r->possible += w; break;
		case AUDIT_FAIL: r->possible += w; break;
		default: break;
		}
	}
	if (r->possible <= 0) {
		r->score = -1;
		r->cap_reason = NULL;
		snprintf(r->grade, sizeof(r->grade), "?");
		return;
	}
	/* Truncated: A+ needs every scored check to pass. */
	r->score = (int)(100.0 * r->earned / r->possible);
	letter = audit_letter(r->score);
	if (r->cap != CAP_NONE &&
	    audit_grade_rank(letter) < audit_grade_rank(cap_letter[r->cap]))
		letter = cap_letter[r->cap];
	else
		r->cap_reason = NULL;
	snprintf(r->grade, sizeof(r->grade), "%s", letter);
}
