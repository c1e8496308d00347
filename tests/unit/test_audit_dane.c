/*
 * DANE (RFC 7672) as the audit judges it: TLSA records against chains
 * made here (a root, an intermediate, leaves current and expired), for
 * usages 3 and 2, selectors 0 and 1, matching types 0, 1 and 2, and the
 * records senders ignore.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check_main.h"
#include "dane.h"

#define MX "mx.example.org"

static EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key;
static X509 *root, *inter, *leaf, *old_leaf, *root_leaf;

static void
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *v)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, v);

	ck_assert_ptr_nonnull(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key k named cn, signed by issuer (NULL: itself), valid from..to days from now. */
static X509 *
mkcert(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ik, bool ca, long from, long to)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX ctx;
	char san[300];

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), to * 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (ca) {
		add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		snprintf(san, sizeof(san), "DNS:%s", cn);
		add_ext(x, &ctx, NID_subject_alt_name, san);
	}
	ck_assert_int_gt(X509_sign(x, issuer ? ik : k, EVP_sha256()), 0);
	return x;
}

static void
setup(void)
{
	root_key = EVP_EC_gen("P-256");
	inter_key = EVP_EC_gen("P-256");
	leaf_key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	root = mkcert(root_key, "Test Root", NULL, NULL, true, -1, 3650);
	inter = mkcert(inter_key, "Test Intermediate", root, root_key, true, -1, 3650);
	leaf = mkcert(leaf_key, MX, inter, inter_key, false, -1, 90);
	old_leaf = mkcert(leaf_key, MX, inter, inter_key, false, -100, -10);
	root_leaf = mkcert(leaf_key, MX, root, root_key, false, -1, 90);
}

static void
teardown(void)
{
	X509 *certs[] = { root, inter, leaf, old_leaf, root_leaf };
	EVP_PKEY *keys[] = { root_key, inter_key, leaf_key, other_key };

	for (size_t i = 0; i < MP_ARRAY_SIZE(certs); i++)
		X509_free(certs[i]);
	for (size_t i = 0; i < MP_ARRAY_SIZE(keys); i++)
		EVP_PKEY_free(keys[i]);
}

static void
chain_of(struct audit_chain *c, X509 *a, X509 *b, X509 *d)
{
	X509 *x[] = { a, b, d };

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < MP_ARRAY_SIZE(x) && x[i] != NULL; i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(x[i], &der);

		ck_assert_int_gt(n, 0);
		audit_chain_add(c, der, (size_t)n);
		OPENSSL_free(der);
	}
}

/* The TLSA data for cert under selector and matching type, into rr (buf holds it). */
static void
record_for(X509 *cert, unsigned usage, unsigned sel, unsigned mtype, struct mp_dns_rr *rr,
    unsigned char *buf, size_t buflen)
{
	unsigned char *der = NULL;
	int n = sel == 0 ? i2d_X509(cert, &der) : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	unsigned len = 0;

	ck_assert_int_gt(n, 0);
	memset(rr, 0, sizeof(*rr));
	rr->type = MP_DNS_TLSA;
	rr->tlsa_usage = (uint8_t)usage;
	rr->tlsa_selector = (uint8_t)sel;
	rr->tlsa_mtype = (uint8_t)mtype;
	if (mtype == 0) {
		ck_assert_uint_le((size_t)n, buflen);
		memcpy(buf, der, (size_t)n);
		len = (unsigned)n;
	} else {
		EVP_Digest(der, (size_t)n, buf, &len, mtype == 1 ? EVP_sha256() : EVP_sha512(), NULL);
	}
	OPENSSL_free(der);
	rr->tlsa_data = buf;
	rr->tlsa_len = len;
}

static enum audit_tlsa_result
check(X509 *cert, unsigned usage, unsigned sel, unsigned mtype, const struct audit_chain *c,
    const char *name, char *why)
{
	unsigned char buf[4096];
	struct mp_dns_rr rr;

	record_for(cert, usage, sel, mtype, &rr, buf, sizeof(buf));
	return audit_tlsa_check(&rr, c, name, why, 300);
}

START_TEST(dane_ee)
{
	struct audit_chain c;
	char why[300];

	chain_of(&c, leaf, inter, NULL);
	for (unsigned sel = 0; sel <= 1; sel++)
		for (unsigned mt = 0; mt <= 2; mt++)
			ck_assert_msg(check(leaf, 3, sel, mt, &c, MX, why) == TLSA_MATCH, "3 %u %u: %s",
			    sel, mt, why);
	/* DANE-EE names the leaf only, and checks neither names nor dates. */
	ck_assert_int_eq(check(inter, 3, 1, 1, &c, MX, why), TLSA_NO_MATCH);
	ck_assert_int_eq(check(leaf, 3, 1, 1, &c, "other.example", why), TLSA_MATCH);
	audit_chain_free(&c);
	chain_of(&c, old_leaf, NULL, NULL);
	ck_assert_int_eq(check(old_leaf, 3, 1, 1, &c, MX, why), TLSA_MATCH);
	/* The same key in a rolled certificate: 3 1 x still matches, 3 0 x not. */
	ck_assert_int_eq(check(leaf, 3, 1, 1, &c, MX, why), TLSA_MATCH);
	ck_assert_int_eq(check(leaf, 3, 0, 1, &c, MX, why), TLSA_NO_MATCH);
	ck_assert_ptr_nonnull(strstr(why, "does not match the server certificate"));
	audit_chain_free(&c);
}
END_TEST

START_TEST(dane_ee_other_key)
{
	X509 *other = mkcert(other_key, MX, inter, inter_key, false, -1, 90);
	struct audit_chain c;
	char why[300];

	chain_of(&c, leaf, inter, NULL);
	ck_assert_int_eq(check(other, 3, 1, 1, &c, MX, why), TLSA_NO_MATCH);
	ck_assert_int_eq(check(other, 3, 1, 2, &c, MX, why), TLSA_NO_MATCH);
	audit_chain_free(&c);
	X509_free(other);
}
END_TEST

START_TEST(dane_ta)
{
	struct audit_chain c;
	char why[300];

	/* The intermediate, or the root when it is sent, is the anchor. */
	chain_of(&c, leaf, inter, root);
	ck_assert_msg(check(inter, 2, 0, 1, &c, MX, why) == TLSA_MATCH, "%s", why);
	ck_assert_msg(check(inter, 2, 1, 2, &c, MX, why) == TLSA_MATCH, "%s", why);
	ck_assert_msg(check(root, 2, 1, 1, &c, MX, why) == TLSA_MATCH, "%s", why);
	ck_assert_msg(check(root, 2, 0, 0, &c, MX, why) == TLSA_MATCH, "%s", why);
	/* A DANE-TA record for the leaf itself is no trust anchor. */
	ck_assert_int_eq(check(leaf, 2, 1, 1, &c, MX, why), TLSA_NO_MATCH);
	/* The name is checked under DANE-TA. */
	ck_assert_int_eq(check(inter, 2, 0, 1, &c, "other.example", why), TLSA_NO_MATCH);
	ck_assert_msg(strstr(why, "does not verify") != NULL, "%s", why);
	audit_chain_free(&c);
	/* The root not sent: a record for it matches nothing. */
	chain_of(&c, leaf, inter, NULL);
	ck_assert_int_eq(check(root, 2, 1, 1, &c, MX, why), TLSA_NO_MATCH);
	ck_assert_msg(strstr(why, "no certificate above") != NULL, "%s", why);
	audit_chain_free(&c);
	/* So is the date. */
	chain_of(&c, old_leaf, inter, NULL);
	ck_assert_int_eq(check(inter, 2, 0, 1, &c, MX, why), TLSA_NO_MATCH);
	ck_assert_msg(strstr(why, "expired") != NULL, "%s", why);
	audit_chain_free(&c);
	/* A leaf that the matched anchor did not sign. */
	chain_of(&c, root_leaf, inter, NULL);
	ck_assert_int_eq(check(inter, 2, 0, 1, &c, MX, why), TLSA_NO_MATCH);
	audit_chain_free(&c);
}
END_TEST

START_TEST(dane_unusable)
{
	unsigned char buf[64];
	struct mp_dns_rr rr;
	struct audit_chain c;
	char why[300];

	chain_of(&c, leaf, inter, NULL);
	/* PKIX usages are not for SMTP (RFC 7672 3.1.3), even when they match. */
	ck_assert_int_eq(check(leaf, 1, 1, 1, &c, MX, why), TLSA_UNUSABLE);
	ck_assert_ptr_nonnull(strstr(why, "PKIX-EE"));
	ck_assert_int_eq(check(inter, 0, 1, 1, &c, MX, why), TLSA_UNUSABLE);
	record_for(leaf, 3, 1, 1, &rr, buf, sizeof(buf));
	rr.tlsa_selector = 2;
	ck_assert_int_eq(audit_tlsa_check(&rr, &c, MX, why, sizeof(why)), TLSA_UNUSABLE);
	rr.tlsa_selector = 1;
	rr.tlsa_mtype = 3;
	ck_assert_int_eq(audit_tlsa_check(&rr, &c, MX, why, sizeof(why)), TLSA_UNUSABLE);
	rr.tlsa_mtype = 1;
	rr.tlsa_usage = 4;
	ck_assert_int_eq(audit_tlsa_check(&rr, &c, MX, why, sizeof(why)), TLSA_UNUSABLE);
	/* A truncated digest matches nothing. */
	rr.tlsa_usage = 3;
	rr.tlsa_len = 31;
	ck_assert_int_eq(audit_tlsa_check(&rr, &c, MX, why, sizeof(why)), TLSA_NO_MATCH);
	audit_chain_free(&c);
	/* Nothing served. */
	rr.tlsa_len = 32;
	ck_assert_int_eq(audit_tlsa_check(&rr, &c, MX, why, sizeof(why)), TLSA_NO_MATCH);
}
END_TEST

START_TEST(chain_helpers)
{
	struct audit_chain c;
	unsigned char md[64];

	chain_of(&c, leaf, inter, NULL);
	ck_assert_uint_eq(c.n, 2);
	ck_assert(audit_chain_valid_for(&c, MX));
	ck_assert(audit_chain_valid_for(&c, "MX.Example.org"));
	ck_assert(!audit_chain_valid_for(&c, "mx2.example.org"));
	ck_assert(!audit_chain_valid_for(&c, ""));
	ck_assert_uint_eq(audit_tlsa_data(&c, 0, 1, 1, md), 32);
	ck_assert_uint_eq(audit_tlsa_data(&c, 1, 0, 2, md), 64);
	ck_assert_uint_eq(audit_tlsa_data(&c, 0, 1, 0, md), 0);
	ck_assert_uint_eq(audit_tlsa_data(&c, 2, 1, 1, md), 0);
	audit_chain_free(&c);
	ck_assert_uint_eq(c.n, 0);
	/* Garbage is no certificate: nothing matches, nothing crashes. */
	audit_chain_add(&c, (const unsigned char *)"\x30\x03\x02\x01", 4);
	ck_assert_uint_eq(audit_tlsa_data(&c, 0, 1, 1, md), 0);
	ck_assert(!audit_chain_valid_for(&c, MX));
	audit_chain_free(&c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("audit_dane");
	TCase *tc = tcase_create("audit_dane");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, dane_ee);
	tcase_add_test(tc, dane_ee_other_key);
	tcase_add_test(tc, dane_ta);
	tcase_add_test(tc, dane_unusable);
	tcase_add_test(tc, chain_helpers);
	suite_add_tcase(s, tc);
	return s;
}
