/*
 * probe_judge_tls: the TLS checks, from the main STARTTLS session and the
 * variant sessions (probe_tls.c): STARTTLS itself, the certificate (trust,
 * a complete chain, expiry, the host and MX names), command injection,
 * the old protocol versions and the weak cipher classes it accepts, and
 * the cipher it prefers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_int.h"

static void
no_tls_session(struct audit_report *r, const char *why)
{
	static const enum audit_check_id ids[] = { CHK_TLS_CERT, CHK_TLS_PROTOCOLS, CHK_TLS_CIPHERS,
	    CHK_TLS_INJECT };

	for (size_t i = 0; i < MP_ARRAY_SIZE(ids); i++)
		audit_set(r, ids[i], AUDIT_NOT_TESTED, "%s", why);
}

/* STARTTLS itself. False when there is no TLS session to judge further. */
static bool
judge_starttls(struct audit_report *r, const struct probe_tls *t)
{
	const struct probe_session *s = &t->s;
	const struct smtp_tls_info *i = &t->info;
	struct mp_buf b = MP_BUF_INIT;

	if (!s->eh.valid) {
		audit_set(r, CHK_STARTTLS, AUDIT_NOT_TESTED, "no EHLO reply");
		no_tls_session(r, "no TLS session");
		return false;
	}
	if (!s->eh.starttls) {
		audit_set(r, CHK_STARTTLS, AUDIT_FAIL, "STARTTLS is not offered");
		audit_fix(r, CHK_STARTTLS, "Postfix: smtpd_tls_cert_file, smtpd_tls_key_file and "
		    "smtpd_tls_security_level = may");
		no_tls_session(r, "no STARTTLS");
		return false;
	}
	if (t->starttls.nlines > 0) {
		smtp_reply_print(&t->starttls, &b, MP_SHOW_LINE);
		audit_evidence(r, CHK_STARTTLS, "STARTTLS -> %s", mp_buf_str(&b));
		mp_buf_free(&b);
	}
	if (t->tls_err != SMTP_OK || t->starttls.code != 220) {
		audit_set(r, CHK_STARTTLS, AUDIT_FAIL, "STARTTLS is announced but %s",
		    t->tls_err != SMTP_OK ? t->tls_errtext : "refused");
		audit_fix(r, CHK_STARTTLS, "Check smtpd_tls_cert_file/smtpd_tls_key_file and the mail log "
		    "for TLS errors.");
		no_tls_session(r, "no TLS session");
		return false;
	}
	audit_evidence(r, CHK_STARTTLS, "protocol %s, cipher %s (%d bits)", i->protocol, i->cipher, i->bits);
	if (strcmp(i->protocol, "TLSv1.2") != 0 && strcmp(i->protocol, "TLSv1.3") != 0) {
		audit_set(r, CHK_STARTTLS, AUDIT_WARN, "STARTTLS works, but negotiated %s", i->protocol);
		audit_fix(r, CHK_STARTTLS, "Postfix: smtpd_tls_protocols = >=TLSv1.2");
	} else {
		audit_set(r, CHK_STARTTLS, AUDIT_PASS, "%s with %s", i->protocol, i->cipher);
	}
	if (t->leftover > 0)
		audit_evidence(r, CHK_STARTTLS, "the server sent %zu plaintext bytes after its 220 "
		    "(discarded)", t->leftover);
	return true;
}

/* The certificate's evidence; the MX names it is not valid for into bad. */
static void
cert_evidence(struct audit_report *r, const struct probe_tls *t, const char *const *mx,
    size_t nmx, struct mp_buf *bad)
{
	const struct smtp_tls_info *i = &t->info;

	audit_evidence(r, CHK_TLS_CERT, "subject: %s", i->subject);
	audit_evidence(r, CHK_TLS_CERT, "issuer: %s", i->issuer);
	if (i->names[0] != '\0')
		audit_evidence(r, CHK_TLS_CERT, "DNS names: %s", i->names);
	audit_evidence(r, CHK_TLS_CERT, "chain (%d): %s", i->chain_len, i->chain);
	audit_evidence(r, CHK_TLS_CERT, "expires: %s (%ld days)", i->not_after, i->days_left);
	audit_evidence(r, CHK_TLS_CERT, "verification: %s", i->verify_str);
	if (t->name_checked)
		audit_evidence(r, CHK_TLS_CERT, "name %s: %s", t->name_used,
		    t->name_ok ? "matches" : "does not match");
	for (size_t k = 0; k < nmx; k++) {
		bool ok = audit_chain_valid_for(&t->chain, mx[k]);

		audit_evidence(r, CHK_TLS_CERT, "MX name %s: %s", mx[k], ok ? "matches" : "does not match");
		if (!ok)
			audit_list_add(bad, ", ", "%s", mx[k]);
	}
}

static void
judge_cert(struct audit_report *r, const struct probe_tls *t, const char *const *mx, size_t nmx)
{
	const struct smtp_tls_info *i = &t->info;
	struct mp_buf bad = MP_BUF_INIT;
	bool name_bad;

	cert_evidence(r, t, mx, nmx, &bad);
	name_bad = (t->name_checked && !t->name_ok) || bad.len > 0;
	if (i->expired) {
		audit_set(r, CHK_TLS_CERT, AUDIT_FAIL, "the certificate expired on %s", i->not_after);
		audit_fix(r, CHK_TLS_CERT, "Renew the certificate (for example with certbot) and point "
		    "smtpd_tls_chain_files (or smtpd_tls_cert_file) at it.");
	} else if (i->chain_incomplete) {
		audit_set(r, CHK_TLS_CERT, AUDIT_WARN, "the certificate is not trusted: the chain is "
		    "incomplete (%s: the server does not send the intermediate certificate, or its CA "
		    "is unknown)%s", i->verify_str, name_bad ? ", and not valid for the host name" : "");
		audit_fix(r, CHK_TLS_CERT, "Send the intermediate certificates after the server's: "
		    "Postfix smtpd_tls_chain_files = key.pem, fullchain.pem.");
	} else if (i->self_signed || i->verify != 0) {
		audit_set(r, CHK_TLS_CERT, AUDIT_WARN, "the certificate is not trusted: %s%s",
		    i->self_signed ? "self-signed" : i->verify_str,
		    name_bad ? ", and not valid for the host name" : "");
		audit_fix(r, CHK_TLS_CERT, "Use a certificate from a public CA (or publish DANE TLSA for "
		    "it) and send the full chain: smtpd_tls_chain_files.");
	} else if (name_bad) {
		audit_set(r, CHK_TLS_CERT, AUDIT_WARN, "the certificate is not valid for %s",
		    bad.len > 0 ? mp_buf_str(&bad) : t->name_used);
		audit_fix(r, CHK_TLS_CERT, "Get a certificate that names the MX host (%s).",
		    bad.len > 0 ? mp_buf_str(&bad) : t->name_used);
	} else if (i->days_left < 14) {
		audit_set(r, CHK_TLS_CERT, AUDIT_WARN, "the certificate expires in %ld days", i->days_left);
		audit_fix(r, CHK_TLS_CERT, "Renew the certificate before it expires.");
	} else {
		audit_set(r, CHK_TLS_CERT, AUDIT_PASS, "trusted, valid for %s, %ld days left",
		    nmx > 0 ? mx[0] : t->name_used, i->days_left);
	}
	mp_buf_free(&bad);
}

static void
judge_inject(struct audit_report *r, const struct probe_tls *t)
{
	if (t->injected) {
		audit_set(r, CHK_TLS_INJECT, AUDIT_FAIL,
		    "the server ran a command sent in plaintext before the TLS handshake");
		audit_evidence(r, CHK_TLS_INJECT, "sent \"STARTTLS\\r\\nNOOP\\r\\n\" in one packet; "
		    "a reply came inside TLS before any command");
		audit_fix(r, CHK_TLS_INJECT, "Upgrade the MTA: it must discard input buffered before "
		    "the TLS handshake.");
	} else {
		audit_set(r, CHK_TLS_INJECT, AUDIT_PASS,
		    "plaintext sent with STARTTLS was discarded, not run inside TLS");
	}
}

/* One variant session's evidence line; 1 accepted, 0 refused, -1 unknown. */
static int
variant(struct audit_report *r, enum audit_check_id id, const struct probe_tlsv *v)
{
	const char *what = probe_tlsv_label(v->kind);

	if (!v->tried) {
		audit_evidence(r, id, "%s: not tried (%s)", what, v->s.err != SMTP_OK ? v->s.errtext :
		    "no STARTTLS in that session");
		return -1;
	}
	if (v->err == SMTP_OK) {
		audit_evidence(r, id, "%s: accepted, %s with %s, key exchange %s", what,
		    v->info.protocol, v->info.cipher, v->info.kx);
		return 1;
	}
	audit_evidence(r, id, "%s: %s (%s)", what, v->err == SMTP_ERR_TLS ? "refused" : "unknown",
	    v->errtext);
	return v->err == SMTP_ERR_TLS ? 0 : -1;
}

static void
judge_protocols(struct audit_report *r, const struct audit_probe *run)
{
	int v10 = variant(r, CHK_TLS_PROTOCOLS, &run->tlsv[TLSV_10]);
	int v11 = variant(r, CHK_TLS_PROTOCOLS, &run->tlsv[TLSV_11]);

	audit_evidence(r, CHK_TLS_PROTOCOLS, "a sender's default: %s", run->tls.info.protocol);
	if (v10 == 1 || v11 == 1) {
		audit_set(r, CHK_TLS_PROTOCOLS, AUDIT_WARN, "accepts %s: deprecated (RFC 8996), a "
		    "downgrade to them succeeds", v10 == 1 && v11 == 1 ? "TLS 1.0 and TLS 1.1" :
		    v10 == 1 ? "TLS 1.0" : "TLS 1.1");
		audit_fix(r, CHK_TLS_PROTOCOLS, "Postfix: smtpd_tls_protocols = >=TLSv1.2 and "
		    "smtpd_tls_mandatory_protocols = >=TLSv1.2");
	} else if (v10 < 0 || v11 < 0) {
		audit_set(r, CHK_TLS_PROTOCOLS, AUDIT_NOT_TESTED, "could not try TLS 1.0 and 1.1");
	} else {
		audit_set(r, CHK_TLS_PROTOCOLS, AUDIT_PASS, "refuses TLS 1.0 and 1.1; a sender gets %s",
		    run->tls.info.protocol);
	}
}

/* The cipher preference for TLS 1.2, as a phrase for the finding, into out. */
static void
preference(struct audit_report *r, const struct audit_probe *run, char *out, size_t outlen)
{
	const struct probe_tlsv *a = &run->tlsv[TLSV_PREF], *b = &run->tlsv[TLSV_PREF_REV];

	int got_a = variant(r, CHK_TLS_CIPHERS, a), got_b = variant(r, CHK_TLS_CIPHERS, b);

	snprintf(out, outlen, "TLS 1.2 not negotiated");
	if (got_a != 1 || got_b != 1)
		return;
	if (strcmp(a->info.cipher, b->info.cipher) == 0)
		snprintf(out, outlen, "TLS 1.2 prefers %s (its own order)", a->info.cipher);
	else
		snprintf(out, outlen, "TLS 1.2 takes the sender's order (%s first for us)",
		    a->info.cipher);
}

static void
judge_ciphers(struct audit_report *r, const struct audit_probe *run)
{
	const struct smtp_tls_info *m = &run->tls.info;
	int null = variant(r, CHK_TLS_CIPHERS, &run->tlsv[TLSV_NULL]);
	int stat = variant(r, CHK_TLS_CIPHERS, &run->tlsv[TLSV_STATIC]);
	bool weak_dh = m->kx_dh && m->kx_bits < 2048;
	char pref[200];

	audit_evidence(r, CHK_TLS_CIPHERS, "a sender's default: %s with %s, key exchange %s",
	    m->protocol, m->cipher, m->kx);
	preference(r, run, pref, sizeof(pref));
	if (null == 1) {
		audit_set(r, CHK_TLS_CIPHERS, AUDIT_FAIL, "accepts NULL ciphers (%s): mail crosses the "
		    "network unencrypted inside TLS", run->tlsv[TLSV_NULL].info.cipher);
		audit_fix(r, CHK_TLS_CIPHERS, "Postfix: smtpd_tls_exclude_ciphers = eNULL, kRSA (and no "
		    "eNULL in tls_*_cipherlist)");
	} else if (stat == 1 || weak_dh) {
		audit_set(r, CHK_TLS_CIPHERS, AUDIT_WARN, "%s%s%s: no forward secrecy for a sender "
		    "that picks it; %s", stat == 1 ? "accepts static RSA key exchange (" : "",
		    stat == 1 ? run->tlsv[TLSV_STATIC].info.cipher : "",
		    stat == 1 ? ")" : "finite-field DH under 2048 bits", pref);
		audit_fix(r, CHK_TLS_CIPHERS, "Postfix: smtpd_tls_exclude_ciphers = kRSA (and a 2048-bit "
		    "smtpd_tls_dh1024_param_file, or none: ECDHE suffices)");
	} else if (null < 0 || stat < 0) {
		audit_set(r, CHK_TLS_CIPHERS, AUDIT_NOT_TESTED, "could not try the NULL and static-RSA "
		    "suites; %s", pref);
	} else {
		audit_set(r, CHK_TLS_CIPHERS, AUDIT_PASS, "forward secrecy only, no NULL ciphers; %s %s; "
		    "%s", m->protocol, m->cipher, pref);
	}
}

void
probe_judge_tls(struct audit_report *r, const struct audit_probe *run, const char *const *mx,
    size_t nmx)
{
	if (!judge_starttls(r, &run->tls))
		return;
	judge_cert(r, &run->tls, mx, nmx);
	judge_protocols(r, run);
	judge_ciphers(r, run);
	judge_inject(r, &run->tls);
}
