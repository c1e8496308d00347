/*
 * probe_tls: the STARTTLS sessions. The main one upgrades as a sender
 * would, with the command injection test, and keeps the chain served.
 * Each variant session offers only one old protocol version or one weak
 * class of ciphers: a handshake that succeeds proves the server accepts
 * it. Debian 12's OpenSSL 3.0 still speaks TLS 1.0 and 1.1, NULL and
 * static-RSA suites, but only at security level 0, so the variants ask
 * for that on our side; what it cannot speak at all (SSLv2, SSLv3, RC4,
 * export and 3DES suites) is never tried.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "probe_int.h"

/* The name to send as SNI and to check the certificate against. */
static const char *
tls_name(const struct probe_session *s)
{
	const char *sni = s->o->tls_name;

	return sni != NULL && *sni != '\0' ? sni : s->eh.name;
}

void *
probe_tls_thread(void *arg)
{
	struct probe_tls *t = arg;
	struct probe_session *s = &t->s;
	struct smtp_tls_opts to = { .ca_file = s->o->ca_file };
	enum smtp_err e;

	if (!probe_session_open(s) || !s->eh.starttls)
		return NULL;
	t->tried = true;
	snprintf(t->name_used, sizeof(t->name_used), "%s", tls_name(s));
	e = smtp_starttls(s->c, t->name_used, true, &to, &t->starttls, &t->leftover, &t->injected,
	    &t->info);
	t->tls_err = e;
	if (e != SMTP_OK) {
		snprintf(t->tls_errtext, sizeof(t->tls_errtext), "%s", smtp_error(s->c));
		probe_session_fail(s, e, "STARTTLS");
		return NULL;
	}
	if (t->starttls.code != 220)
		return NULL;
	smtp_tls_chain(s->c, &t->chain);
	if (t->name_used[0] != '\0') {
		t->name_checked = true;
		t->name_ok = smtp_tls_name_matches(s->c, t->name_used);
	}
	e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &t->ehlo2);
	t->ehlo2_err = e;
	if (e != SMTP_OK) {
		probe_session_fail(s, e, "EHLO after STARTTLS");
		return NULL;
	}
	audit_ehlo_parse(&t->ehlo2, &t->eh2);
	return NULL;
}

static const struct {
	const char *label;
	int min, max;
	const char *ciphers;        /* NULL: the reversed default order */
} variants[TLSV_COUNT] = {
	[TLSV_10] = { "TLS 1.0", TLS1_VERSION, TLS1_VERSION, "DEFAULT:@SECLEVEL=0" },
	[TLSV_11] = { "TLS 1.1", TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0" },
	/* TLS 1.3 has no NULL or static-RSA suite: offering 1.3 would hide them. */
	[TLSV_NULL] = { "NULL ciphers", TLS1_VERSION, TLS1_2_VERSION, "eNULL:@SECLEVEL=0" },
	[TLSV_STATIC] = { "static RSA key exchange", TLS1_VERSION, TLS1_2_VERSION,
	    "kRSA:!eNULL:@SECLEVEL=0" },
	[TLSV_PREF] = { "TLS 1.2 in our order", TLS1_2_VERSION, TLS1_2_VERSION, "DEFAULT" },
	[TLSV_PREF_REV] = { "TLS 1.2 in reverse order", TLS1_2_VERSION, TLS1_2_VERSION, NULL },
};

const char *
probe_tlsv_label(enum probe_tlsv_kind kind)
{
	return variants[kind].label;
}

void
probe_tlsv_init(struct probe_tlsv *v, enum probe_tlsv_kind kind, const struct audit_probe_opts *o)
{
	memset(v, 0, sizeof(*v));
	v->s.o = o;
	v->kind = kind;
	v->to.min_version = variants[kind].min;
	v->to.max_version = variants[kind].max;
	v->to.ca_file = o->ca_file;
	if (variants[kind].ciphers == NULL)
		v->to.ciphers = v->ciphers = smtp_tls_reversed_ciphers();
	else
		v->to.ciphers = variants[kind].ciphers;
}

void
probe_tlsv_clear(struct probe_tlsv *v)
{
	probe_session_close(&v->s);
	free(v->ciphers);
	v->ciphers = NULL;
}

void *
probe_tlsv_thread(void *arg)
{
	struct probe_tlsv *v = arg;
	struct probe_session *s = &v->s;
	struct smtp_reply r = { 0 };
	size_t leftover;
	bool injected;

	if (!probe_session_open(s) || !s->eh.starttls)
		return NULL;
	v->tried = true;
	v->err = smtp_starttls(s->c, tls_name(s), false, &v->to, &r, &leftover, &injected, &v->info);
	if (v->err == SMTP_OK && r.code != 220) {
		v->err = SMTP_ERR_TLS;
		snprintf(v->errtext, sizeof(v->errtext), "STARTTLS refused: %d", r.code);
	} else if (v->err != SMTP_OK) {
		snprintf(v->errtext, sizeof(v->errtext), "%s", smtp_error(s->c));
		probe_session_fail(s, v->err, "STARTTLS");
	}
	smtp_reply_clear(&r);
	return NULL;
}
