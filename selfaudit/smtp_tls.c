/*
 * smtp_tls: the STARTTLS upgrade of a connection (with the command
 * injection test) and what the server's certificate says.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "audit.h"
#include "smtp_int.h"

static void
name_text(X509_NAME *n, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;
	struct mp_buf pb = MP_BUF_INIT;

	out[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	len = BIO_get_mem_data(b, &p);
	if (len > 0) {
		mp_printable(&pb, p, (size_t)len, outlen - 8);
		mp_strlcpy(out, mp_buf_str(&pb), outlen);
	}
	mp_buf_free(&pb);
	BIO_free(b);
}

static void
cert_expiry(X509 *x, struct smtp_tls_info *info)
{
	const ASN1_TIME *na = X509_get0_notAfter(x);
	BIO *b;
	char *p;
	long len;
	int days = 0, secs = 0;

	if (na == NULL)
		return;
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		ASN1_TIME_print(b, na);
		len = BIO_get_mem_data(b, &p);
		if (len > 0)
			snprintf(info->not_after, sizeof(info->not_after), "%.*s",
			    (int)(len < 60 ? len : 60), p);
		BIO_free(b);
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, na))
		info->days_left = days;
	info->expired = X509_cmp_current_time(na) < 0;
}

/* The subjectAltName DNS names, printable. */
static void
cert_names(X509 *x, struct smtp_tls_info *info)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	struct mp_buf nb = MP_BUF_INIT;

	if (gens == NULL)
		return;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && i < 20; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type != GEN_DNS)
			continue;
		if (nb.len > 0)
			mp_buf_putc(&nb, ' ');
		mp_printable(&nb, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)ASN1_STRING_length(g->d.dNSName), MP_SHOW_NAME);
	}
	mp_strlcpy(info->names, mp_buf_str(&nb), sizeof(info->names));
	mp_buf_free(&nb);
	GENERAL_NAMES_free(gens);
}

static void
cert_chain(struct smtp_conn *c, struct smtp_tls_info *info)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
	struct mp_buf cb = MP_BUF_INIT;
	X509 *last;

	info->chain_len = chain ? sk_X509_num(chain) : 0;
	for (int i = 0; i < info->chain_len && i < 5; i++) {
		char s[256];

		name_text(X509_get_subject_name(sk_X509_value(chain, i)), s, sizeof(s));
		if (i > 0)
			mp_buf_puts(&cb, " <- ");
		mp_buf_puts(&cb, s);
	}
	mp_strlcpy(info->chain, mp_buf_str(&cb), sizeof(info->chain));
	mp_buf_free(&cb);
	/* The verifier found no issuer for a certificate that is no root:
	 * the server left out an intermediate (or its CA is unknown here). */
	last = info->chain_len > 0 ? sk_X509_value(chain, info->chain_len - 1) : NULL;
	info->chain_incomplete = last != NULL && X509_check_issued(last, last) != X509_V_OK &&
	    (info->verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    info->verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT);
}

/* The ephemeral key the server chose for the key exchange. */
static void
key_exchange(struct smtp_conn *c, struct smtp_tls_info *info)
{
	EVP_PKEY *k = NULL;
	const char *type;

	if (!SSL_get_peer_tmp_key(c->ssl, &k) || k == NULL) {
		snprintf(info->kx, sizeof(info->kx), "none (no ephemeral key: static RSA)");
		return;
	}
	type = EVP_PKEY_get0_type_name(k);
	info->kx_bits = EVP_PKEY_get_bits(k);
	info->kx_dh = EVP_PKEY_is_a(k, "DH");
	snprintf(info->kx, sizeof(info->kx), "%s, %d bits", type ? type : "?", info->kx_bits);
	EVP_PKEY_free(k);
}

static void
cert_info(struct smtp_conn *c, struct smtp_tls_info *info)
{
	X509 *x = c->peer;

	snprintf(info->protocol, sizeof(info->protocol), "%s", SSL_get_version(c->ssl));
	snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(c->ssl));
	info->bits = SSL_get_cipher_bits(c->ssl, NULL);
	info->verify = SSL_get_verify_result(c->ssl);
	snprintf(info->verify_str, sizeof(info->verify_str), "%s",
	    X509_verify_cert_error_string(info->verify));
	key_exchange(c, info);
	if (x == NULL) {
		snprintf(info->verify_str, sizeof(info->verify_str), "no certificate");
		return;
	}
	name_text(X509_get_subject_name(x), info->subject, sizeof(info->subject));
	name_text(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	info->self_signed = X509_check_issued(x, x) == X509_V_OK;
	cert_expiry(x, info);
	cert_names(x, info);
	cert_chain(c, info);
}

/* The context for one handshake: our protocol and cipher limits, the CAs. */
static bool
tls_context(struct smtp_conn *c, const struct smtp_tls_opts *to)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL)
		return false;
	SSL_CTX_set_default_verify_paths(c->ctx);
	if (to->ca_file != NULL && *to->ca_file != '\0' &&
	    !SSL_CTX_load_verify_locations(c->ctx, to->ca_file, NULL)) {
		smtp_seterr(c, "cannot load the CA file %s", to->ca_file);
		return false;
	}
	SSL_CTX_set_min_proto_version(c->ctx, to->min_version ? to->min_version : TLS1_VERSION);
	if (to->max_version != 0)
		SSL_CTX_set_max_proto_version(c->ctx, to->max_version);
	if (to->ciphers != NULL && !SSL_CTX_set_cipher_list(c->ctx, to->ciphers)) {
		smtp_seterr(c, "this OpenSSL has none of the ciphers %s", to->ciphers);
		return false;
	}
	return (c->ssl = SSL_new(c->ctx)) != NULL;
}

/* Sets up TLS on the connection and does the handshake (sni may be NULL). */
static enum smtp_err
tls_handshake(struct smtp_conn *c, const char *sni, const struct smtp_tls_opts *to)
{
	struct mp_deadline dl;
	char es[160];
	unsigned long code;
	int n = 0, sslerr = 0;

	if (!tls_context(c, to)) {
		if (c->err[0] == '\0')
			smtp_seterr(c, "cannot create a TLS context");
		ERR_clear_error();
		return SMTP_ERR_IO;
	}
	/* Verification is reported, never enforced: we want to see the
	 * certificate even when it is bad. */
	SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	if (sni != NULL && *sni != '\0')
		SSL_set_tlsext_host_name(c->ssl, sni);
	SSL_set_fd(c->ssl, c->fd);
	mp_deadline_set(&dl, c->timeout_ms);
	switch (smtp_tls_call(c, TLS_OP_CONNECT, NULL, 0, &dl, &n, &sslerr)) {
	case TLS_DONE:
		return SMTP_OK;
	case TLS_TIMEOUT:
		return smtp_timed_out(c, "TLS handshake did not finish");
	case TLS_FAILED:
		break;
	}
	if ((code = ERR_get_error()) != 0)
		ERR_error_string_n(code, es, sizeof(es));
	else
		snprintf(es, sizeof(es), "connection closed during the handshake");
	smtp_seterr(c, "TLS handshake: %s", es);
	ERR_clear_error();
	return SMTP_ERR_TLS;
}

/*
 * A safe server discarded the NOOP sent with STARTTLS; a vulnerable one
 * answers it now, before we have said anything inside TLS. The stray
 * reply is dropped (c->inlen stays 0): it would desynchronise us.
 */
static bool
tls_injected_reply(struct smtp_conn *c)
{
	struct mp_deadline wait;
	int n = 0, sslerr = 0;

	mp_deadline_set(&wait, 300);
	return smtp_tls_call(c, TLS_OP_READ, c->in, (int)sizeof(c->in), &wait, &n, &sslerr) == TLS_DONE;
}

enum smtp_err
smtp_starttls(struct smtp_conn *c, const char *sni, bool inject,
    const struct smtp_tls_opts *to, struct smtp_reply *reply_r, size_t *leftover_r,
    bool *injected_r, struct smtp_tls_info *info)
{
	static const char cmd_inject[] = "STARTTLS\r\nNOOP\r\n";
	static const char cmd_plain[] = "STARTTLS\r\n";
	static const struct smtp_tls_opts defaults;
	enum smtp_err e;

	memset(info, 0, sizeof(*info));
	*leftover_r = 0;
	*injected_r = false;
	e = inject ? smtp_send(c, cmd_inject, sizeof(cmd_inject) - 1) :
	    smtp_send(c, cmd_plain, sizeof(cmd_plain) - 1);
	if (e != SMTP_OK)
		return e;
	if ((e = smtp_read_reply(c, reply_r)) != SMTP_OK)
		return e;
	if (reply_r->code != 220) {
		smtp_seterr(c, "STARTTLS refused");
		return SMTP_OK;     /* the caller reads the code */
	}
	/* Anything already buffered came in plaintext after the 220. */
	*leftover_r = c->inlen;
	c->inlen = 0;
	if ((e = tls_handshake(c, sni, to ? to : &defaults)) != SMTP_OK)
		return e;
	c->peer = SSL_get1_peer_certificate(c->ssl);
	cert_info(c, info);
	if (inject)
		*injected_r = tls_injected_reply(c);
	return SMTP_OK;
}

bool
smtp_tls_name_matches(const struct smtp_conn *c, const char *name)
{
	if (c->peer == NULL || name == NULL || *name == '\0')
		return false;
	return X509_check_host(c->peer, name, strlen(name), 0, NULL) == 1;
}

void
smtp_tls_chain(const struct smtp_conn *c, struct audit_chain *out)
{
	STACK_OF(X509) *chain = c->ssl ? SSL_get_peer_cert_chain(c->ssl) : NULL;

	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(sk_X509_value(chain, i), &der);

		if (n > 0)
			audit_chain_add(out, der, (size_t)n);
		OPENSSL_free(der);
	}
}

char *
smtp_tls_reversed_ciphers(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	STACK_OF(SSL_CIPHER) *sk = ctx ? SSL_CTX_get_ciphers(ctx) : NULL;
	struct mp_buf b = MP_BUF_INIT;

	for (int i = sk ? sk_SSL_CIPHER_num(sk) - 1 : -1; i >= 0; i--) {
		const SSL_CIPHER *ci = sk_SSL_CIPHER_value(sk, i);

		/* TLS 1.3 suites are not part of a cipher list. */
		if (strcmp(SSL_CIPHER_get_version(ci), "TLSv1.3") == 0)
			continue;
		audit_list_add(&b, ":", "%s", SSL_CIPHER_get_name(ci));
	}
	SSL_CTX_free(ctx);
	return b.len > 0 ? mp_buf_steal(&b) : xstrdup("DEFAULT");
}
