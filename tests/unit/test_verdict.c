/*
 * verdict: the evaluation the milter and mailposture-check share, against
 * the scenario zones (tests/zones/example.com.zone, example.net.zone):
 * actions per [milter] settings, trusted and untrusted DKIM results,
 * the Authentication-Results value, and the posture cache; and DKIM
 * verified here (tests/zones/dkim.example.org.zone) on messages signed
 * at test time by dkimpy (tests/dkim/sign).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authres.h"
#include "check_main.h"
#include "fixture_evaluator.h"
#include "verdict.h"

static struct mp_verdict *
evaluate(struct mp_evaluator *ev, const char *ip, const char *mail_from,
    const struct mp_header *h, size_t nh)
{
	struct mp_message m = {
		.ip = ip, .helo = "mail.example.net", .mail_from = mail_from,
		.headers = h, .nheaders = nh, .want_posture = false,
	};

	return mp_evaluate(ev, &m);
}

#define HDR(n, v) { n, v, sizeof(v) - 1 }

static const struct mp_header from_pass[] = { HDR("From", "Bob <bob@pass.example.com>") };

static const struct {
	const char *desc;
	const char *settings[10];
	const char *ip;
	const char *mail_from;
	enum mp_action action;
	const char *reply;      /* prefix of the SMTP reply, or NULL */
} actions[] = {
	{ "defaults only add the header", { NULL }, "198.51.100.7", "bob@pass.example.com",
	  MP_ACTION_ACCEPT, NULL },
	{ "dmarc_reject=reject", { "milter", "dmarc_reject", "reject", NULL }, "198.51.100.7",
	  "bob@pass.example.com", MP_ACTION_REJECT,
	  "550 5.7.1 Message rejected by the DMARC policy of pass.example.com" },
	{ "dmarc_reject=quarantine", { "milter", "dmarc_reject", "quarantine", NULL },
	  "198.51.100.7", "bob@pass.example.com", MP_ACTION_QUARANTINE, NULL },
	{ "spf_fail=reject", { "milter", "spf_fail", "reject", NULL }, "198.51.100.7",
	  "bob@pass.example.com", MP_ACTION_REJECT, "550 5.7.23 SPF check failed" },
	{ "a passing message is never rejected", { "milter", "dmarc_reject", "reject",
	  "milter", "spf_fail", "reject", NULL }, "192.0.2.10", "bob@pass.example.com",
	  MP_ACTION_ACCEPT, NULL },
};

START_TEST(action_per_settings)
{
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), actions[_i].settings);
	struct mp_verdict *v = evaluate(ev, actions[_i].ip, actions[_i].mail_from, from_pass, 1);
	const char *reply = NULL;

	ck_assert_msg(fixture_action(v, &reply) == actions[_i].action, "%s: got %s (%s)",
	    actions[_i].desc, mp_action_str(fixture_action(v, &reply)), reply);
	ck_assert_ptr_nonnull(reply);
	if (actions[_i].reply)
		ck_assert_msg(strncmp(reply, actions[_i].reply, strlen(actions[_i].reply)) == 0,
		    "%s: reply %s", actions[_i].desc, reply);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(no_from_and_multiple_from)
{
	static const char *const rej[] = { "milter", "no_from", "reject", "milter",
	    "multiple_from", "reject", NULL };
	static const struct mp_header two[] = {
		HDR("From", "a@pass.example.com"), HDR("From", "b@pass.example.com"),
	};
	static const struct mp_header bad[] = { HDR("From", "undisclosed") };
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), rej);
	struct mp_verdict *v;
	const char *reply;

	v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", NULL, 0);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert_str_eq(reply, "550 5.7.1 Message rejected: no From header");
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PERMERROR);
	mp_verdict_free(&v);

	/* Two From fields, even with one domain: RFC 5322 allows one. */
	v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", two, 2);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert_str_eq(mp_verdict_problem(v), "several From header fields");
	mp_verdict_free(&v);

	v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert_ptr_nonnull(strstr(mp_verdict_problem(v), "unusable From header"));
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* An unparseable From is no way around DMARC: "strictest" assumes p=reject. */
START_TEST(unusable_from_is_not_a_bypass)
{
	static const char *const enforce[] = { "milter", "dmarc_reject", "reject", NULL };
	static const char *const quar[] = { "milter", "dmarc_reject", "quarantine", NULL };
	static const struct mp_header bad[] = {
		HDR("From", "\"Service <ceo@pass.example.com> <ceo@pass.example.com>"),
	};
	struct mp_evaluator *ev;
	struct mp_verdict *v;
	const char *reply;

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), NULL);
	v = evaluate(ev, "198.51.100.7", "x@norec.example.net", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_ACCEPT);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PERMERROR);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), enforce);
	v = evaluate(ev, "198.51.100.7", "x@norec.example.net", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert(strncmp(reply, "550 5.7.1 Message rejected: unusable From header", 48) == 0);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), quar);
	v = evaluate(ev, "198.51.100.7", "x@norec.example.net", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_QUARANTINE);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(temperror_tempfails_when_asked)
{
	static const char *const tf[] = { "milter", "temperror", "tempfail", NULL };
	struct mp_evaluator *ev = fixture_evaluator("127.0.0.1@9", tf);
	struct mp_verdict *v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", from_pass, 1);
	const char *reply;

	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_TEMPERROR);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_TEMPERROR);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_TEMPFAIL);
	ck_assert(strncmp(reply, "451 4.7.5 ", 10) == 0);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(dkim_only_from_trusted_authserv_ids)
{
	static const char *const trust[] = { "policy", "trusted_authserv_ids",
	    "relay.example.net, other.example.net", "dkim", "verify", "no", NULL };
	static const struct mp_header trusted[] = {
		HDR("From", "bob@pass.example.com"),
		HDR("Authentication-Results", "relay.example.net; dkim=pass header.d=pass.example.com"),
	};
	static const struct mp_header untrusted[] = {
		HDR("From", "bob@pass.example.com"),
		HDR("Authentication-Results", "evil.example.com; dkim=pass header.d=pass.example.com"),
	};
	static const struct mp_header ours[] = {
		HDR("From", "bob@pass.example.com"),
		HDR("Authentication-Results", "mx.example.org; dkim=pass header.d=pass.example.com"),
	};
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), trust);
	struct mp_verdict *v;

	/* SPF fails from 198.51.100.7; only a trusted DKIM pass can save DMARC. */
	v = evaluate(ev, "198.51.100.7", "bob@pass.example.com", trusted, 2);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PASS);
	ck_assert(mp_verdict_dmarc(v)->dkim_aligned);
	mp_verdict_free(&v);

	v = evaluate(ev, "198.51.100.7", "bob@pass.example.com", untrusted, 2);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_FAIL);
	mp_verdict_free(&v);

	/* A header carrying our own authserv-id is forged, whatever the list says. */
	v = evaluate(ev, "198.51.100.7", "bob@pass.example.com", ours, 2);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_FAIL);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

static const struct {
	const char *mail_from;
	const char *want;
} authres[] = {
	{ "bob@pass.example.com", "mx.example.org; spf=pass smtp.mailfrom=bob@pass.example.com;\n"
	  "\tdmarc=pass (p=reject dis=none) header.from=pass.example.com" },
	{ "", "mx.example.org; spf=none smtp.helo=mail.example.net;\n"
	  "\tdmarc=fail (p=reject dis=reject) header.from=pass.example.com" },
	/* Hostile envelope text never reaches the header raw. */
	{ "a\r\nX-Evil: 1@pass.example.com", NULL },
};

START_TEST(authres_value)
{
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), NULL);
	struct mp_verdict *v = evaluate(ev, "192.0.2.10", authres[_i].mail_from, from_pass, 1);
	const char *ar = mp_verdict_authres(v);

	if (authres[_i].want)
		ck_assert_str_eq(ar, authres[_i].want);
	for (const char *p = ar; *p; p++)
		ck_assert_msg(*p == '\n' ? p[1] == '\t' : (unsigned char)*p >= 0x20 || *p == '\t',
		    "control byte in %s", ar);
	ck_assert_ptr_null(strstr(ar, "\nX-Evil"));
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* With [dkim] verify = yes (the default) only our own results count:
 * a trusted host's dkim=pass is ignored, even when nothing was verified. */
START_TEST(trusted_dkim_ignored_when_verifying)
{
	static const char *const trust[] = { "policy", "trusted_authserv_ids",
	    "relay.example.net", NULL };
	static const struct mp_header trusted[] = {
		HDR("From", "bob@pass.example.com"),
		HDR("Authentication-Results", "relay.example.net; dkim=pass header.d=pass.example.com"),
	};
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), trust);
	struct mp_verdict *v;

	ck_assert_ptr_nonnull(mp_evaluator_dkim(ev));
	v = evaluate(ev, "198.51.100.7", "bob@pass.example.com", trusted, 2);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_FAIL);
	ck_assert(!mp_verdict_dmarc(v)->dkim_aligned);
	ck_assert_uint_eq(mp_verdict_result(v)->ndkim, 0);
	/* Not verified here (no message fed): the header says nothing of DKIM. */
	ck_assert(!mp_verdict_result(v)->dkim_verified);
	ck_assert_ptr_null(strstr(mp_verdict_authres(v), "dkim="));
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* Hand-made signatures, hostile text included: our parser reads back
 * each dkim= result, in order, with its header.d, header.s and header.b. */
static const struct mp_dkim_sig ar_sigs[] = {
	{ .domain = "dkim.example.org", .selector = "s2048", .b = "ab/c+d=e",
	  .result = MP_DKIM_PASS, .checked = true },
	{ .domain = "dkim.example.org", .selector = "revoked", .b = "XYZ12345",
	  .result = MP_DKIM_PERMERROR, .checked = true,
	  .reason = "key revoked (empty p=) \\ \"q\";\n\tdmarc=pass" },
	{ .result = MP_DKIM_NEUTRAL, .checked = true },
	{ .domain = "other.example", .selector = "x;y \"z\"", .b = "QUJDREVG",
	  .result = MP_DKIM_NONE, .checked = false },
};

static void
check_ar_sig(const struct mp_authres_result *res, const struct mp_dkim_sig *s)
{
	static const char *const prop[] = { "d", "s", "b" };
	const char *want[] = { s->domain, s->selector, s->b };

	ck_assert_str_eq(res->method, "dkim");
	ck_assert_str_eq(res->result, mp_dkim_result_str(s->result));
	for (size_t k = 0; k < MP_ARRAY_SIZE(prop); k++) {
		const char *got = mp_authres_prop(res, "header", prop[k]);

		if (want[k][0] == '\0')
			ck_assert_ptr_null(got);
		else
			ck_assert_msg(got != NULL && strcmp(got, want[k]) == 0, "header.%s: %s",
			    prop[k], got ? got : "(none)");
	}
}

START_TEST(authres_dkim_reads_back)
{
	struct mp_result *r = xcalloc(1, sizeof(*r));
	struct mp_authres *ar = xmalloc(sizeof(*ar));
	struct mp_buf b = MP_BUF_INIT;
	const char *why = NULL;

	r->spf.result = MP_SPF_PASS;
	r->dmarc_result = MP_DMARC_PASS;
	mp_strlcpy(r->from_domain, "dkim.example.org", sizeof(r->from_domain));
	r->dkim_verified = true;
	r->ndkim_sig = MP_ARRAY_SIZE(ar_sigs);
	memcpy(r->dkim_sig, ar_sigs, sizeof(ar_sigs));
	mp_result_authres(r, "mx.example.org", &b);
	ck_assert_msg(mp_authres_parse(b.data, b.len, ar, &why), "%s: %s", why, b.data);
	ck_assert_str_eq(ar->authserv_id, "mx.example.org");
	ck_assert_uint_eq(ar->count, MP_ARRAY_SIZE(ar_sigs) + 2);
	ck_assert_str_eq(ar->res[0].method, "spf");
	for (size_t i = 0; i < MP_ARRAY_SIZE(ar_sigs); i++)
		check_ar_sig(&ar->res[1 + i], &ar_sigs[i]);
	ck_assert_str_eq(ar->res[ar->count - 1].method, "dmarc");
	/* A pass has no comment; the others say why. */
	ck_assert_ptr_nonnull(strstr(b.data, "dkim=pass header.d=dkim.example.org header.s=s2048 "
	    "header.b=\"ab/c+d=e\";"));
	ck_assert_ptr_nonnull(strstr(b.data, "dkim=permerror (key revoked  empty p=  "));
	ck_assert_ptr_nonnull(strstr(b.data, "dkim=neutral (no reason given);"));
	ck_assert_ptr_nonnull(strstr(b.data, "dkim=none (not checked) header.d=other.example"));

	/* Verified here and unsigned: dkim=none alone. */
	r->ndkim_sig = 0;
	mp_buf_reset(&b);
	mp_result_authres(r, "mx.example.org", &b);
	ck_assert_msg(mp_authres_parse(b.data, b.len, ar, &why), "%s: %s", why, b.data);
	ck_assert_uint_eq(ar->count, 3);
	ck_assert_str_eq(ar->res[1].method, "dkim");
	ck_assert_str_eq(ar->res[1].result, "none");
	ck_assert_uint_eq(ar->res[1].nprops, 0);

	/* Not verified here: no dkim= at all. */
	r->dkim_verified = false;
	mp_buf_reset(&b);
	mp_result_authres(r, "mx.example.org", &b);
	ck_assert_ptr_null(strstr(b.data, "dkim="));
	mp_buf_free(&b);
	free(ar);
	free(r);
}
END_TEST

/* The ESP's newsletter for dkim.example.org (p=reject): sent from
 * 198.51.100.7 with MAIL FROM at bounce.esp.example.net, where SPF
 * passes but does not align. */
#define ESP_IP "198.51.100.7"
#define ESP_MAILFROM "bounce@bounce.esp.example.net"
static const struct mp_header esp_fields[] = {
	HDR("From", " Bob <bob@dkim.example.org>"),
	HDR("To", " <rcpt@example.net>"),
	HDR("Subject", " This month's  newsletter"),
	HDR("Message-ID", " <esp1@dkim.example.org>"),
};
static const char esp_body[] = "Hello,\r\n\r\nthis month's  newsletter.\t\r\n\r\n-- \r\n"
    "The team\r\n";

/* The DKIM-Signature field dkimpy (tests/dkim/sign) writes for the ESP's
 * message: its value (after the colon), into buf. */
static size_t
esp_signature(char *buf, size_t len)
{
	char tmpl[] = "/tmp/mp-test-verdict-XXXXXX", cmd[1024];
	int fd = mkstemp(tmpl);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL, *p;
	size_t n, end;

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < MP_ARRAY_SIZE(esp_fields); i++)
		fprintf(f, "%s:%s\r\n", esp_fields[i].name, esp_fields[i].value);
	fprintf(f, "\r\n%s", esp_body);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s -s s2048 < %s", test_path("dkim/sign"),
	    tmpl);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(buf, 1, len - 1, p);
	ck_assert_int_eq(pclose(p), 0);
	unlink(tmpl);
	buf[n] = '\0';
	ck_assert_msg(strncmp(buf, "DKIM-Signature:", 15) == 0, "signer wrote: %s", buf);
	/* The field ends at the first line end not followed by folding. */
	for (end = 15; end + 2 < n; end++)
		if (buf[end] == '\r' && buf[end + 1] == '\n' && buf[end + 2] != ' ' &&
		    buf[end + 2] != '\t')
			break;
	memmove(buf, buf + 15, end - 15);
	buf[end - 15] = '\0';
	return end - 15;
}

/* The ESP's message through our verifier (signature value or NULL),
 * the body in chunks of 7 bytes, then evaluated with extra fields. */
static struct mp_verdict *
evaluate_esp(struct mp_evaluator *ev, const char *sig, const struct mp_header *extra,
    size_t nextra)
{
	struct mp_dkim_msg *dm = mp_dkim_msg_new(mp_evaluator_dkim(ev));
	struct mp_header h[8];
	struct mp_message m = {
		.ip = ESP_IP, .helo = "mail.esp.example.net", .mail_from = ESP_MAILFROM,
		.headers = h, .nheaders = 1 + nextra, .dkim = dm,
	};
	struct mp_verdict *v;

	if (sig != NULL)
		mp_dkim_msg_header(dm, "DKIM-Signature", sig, strlen(sig));
	for (size_t i = 0; i < MP_ARRAY_SIZE(esp_fields); i++)
		mp_dkim_msg_header(dm, esp_fields[i].name, esp_fields[i].value,
		    esp_fields[i].value_len);
	mp_dkim_msg_eoh(dm);
	ck_assert(mp_dkim_msg_signed(dm) == (sig != NULL));
	for (size_t at = 0; at < sizeof(esp_body) - 1; at += 7)
		mp_dkim_msg_body(dm, (const unsigned char *)esp_body + at,
		    sizeof(esp_body) - 1 - at < 7 ? sizeof(esp_body) - 1 - at : 7);
	h[0] = esp_fields[0];
	for (size_t i = 0; i < nextra && i + 1 < MP_ARRAY_SIZE(h); i++)
		h[1 + i] = extra[i];
	v = mp_evaluate(ev, &m);
	mp_dkim_msg_free(&dm);
	return v;
}

START_TEST(dkim_signed_message_passes_dmarc)
{
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), NULL);
	char sig[4096], want[64];
	const struct mp_result *r;
	struct mp_verdict *v;
	const char *b;

	esp_signature(sig, sizeof(sig));
	v = evaluate_esp(ev, sig, NULL, 0);
	r = mp_verdict_result(v);
	ck_assert_int_eq(r->spf.result, MP_SPF_PASS);
	ck_assert(!r->dmarc.spf_aligned);
	ck_assert_int_eq(r->dmarc_result, MP_DMARC_PASS);
	ck_assert(r->dmarc.dkim_aligned);
	ck_assert(r->dkim_verified);
	ck_assert_uint_eq(r->ndkim_sig, 1);
	ck_assert_msg(r->dkim_sig[0].result == MP_DKIM_PASS, "%s: %s",
	    mp_dkim_result_str(r->dkim_sig[0].result), r->dkim_sig[0].reason);
	ck_assert(r->dkim_sig_aligned[0]);
	ck_assert_str_eq(r->dkim_sig[0].domain, "dkim.example.org");
	ck_assert_str_eq(r->dkim_sig[0].selector, "s2048");
	ck_assert_uint_eq(r->ndkim, 1);
	/* header.b: the first 8 characters of b= (RFC 6008). */
	b = strstr(sig, " b=");
	ck_assert_ptr_nonnull(b);
	snprintf(want, sizeof(want), "%.8s", b + 3);
	ck_assert_str_eq(r->dkim_sig[0].b, want);
	ck_assert_ptr_nonnull(strstr(mp_verdict_authres(v),
	    ";\n\tdkim=pass header.d=dkim.example.org header.s=s2048 header.b="));
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* The same message unsigned: DMARC fails under p=reject, and a trusted
 * host's dkim=pass changes nothing while we verify. */
START_TEST(dkim_unsigned_twin_fails)
{
	static const char *const trust[] = { "policy", "trusted_authserv_ids",
	    "relay.example.net", "milter", "dmarc_reject", "reject", NULL };
	static const struct mp_header ar[] = {
		HDR("Authentication-Results", "relay.example.net; dkim=pass header.d=dkim.example.org"),
	};
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), trust);
	struct mp_verdict *v = evaluate_esp(ev, NULL, ar, 1);
	const struct mp_result *r = mp_verdict_result(v);
	const char *reply;

	ck_assert_int_eq(r->dmarc_result, MP_DMARC_FAIL);
	ck_assert(r->dkim_verified);
	ck_assert_uint_eq(r->ndkim_sig, 0);
	ck_assert_ptr_nonnull(strstr(mp_verdict_authres(v), ";\n\tdkim=none;\n\tdmarc=fail"));
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/*
 * The sender picks d= too: ten signatures whose keys sit behind a zone
 * that never answers must not spend the time SPF needs. DKIM gets half of
 * what is left; SPF for the envelope still passes.
 */
START_TEST(slow_dkim_keys_leave_time_for_spf)
{
	static const char *const tight[] = { "policy", "eval_timeout", "4", "dns", "timeout",
	    "2000", NULL };
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER_DROP"), tight);
	struct mp_dkim_msg *dm = mp_dkim_msg_new(mp_evaluator_dkim(ev));
	struct mp_header h[1] = { esp_fields[0] };
	struct mp_message m = {
		.ip = ESP_IP, .helo = "mail.esp.example.net", .mail_from = ESP_MAILFROM,
		.headers = h, .nheaders = 1, .dkim = dm,
	};
	const struct mp_result *r;
	struct mp_verdict *v;
	char sig[256];

	for (int i = 0; i < 10; i++) {
		snprintf(sig, sizeof(sig), " v=1; a=rsa-sha256; c=relaxed/relaxed; "
		    "d=slow.example.org; s=sel%d; h=from:to; "
		    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", i);
		mp_dkim_msg_header(dm, "DKIM-Signature", sig, strlen(sig));
	}
	for (size_t i = 0; i < MP_ARRAY_SIZE(esp_fields); i++)
		mp_dkim_msg_header(dm, esp_fields[i].name, esp_fields[i].value,
		    esp_fields[i].value_len);
	mp_dkim_msg_eoh(dm);
	mp_dkim_msg_body(dm, (const unsigned char *)esp_body, sizeof(esp_body) - 1);
	v = mp_evaluate(ev, &m);
	r = mp_verdict_result(v);
	ck_assert_uint_eq(r->ndkim_sig, 10);
	for (size_t i = 0; i < r->ndkim_sig; i++)
		ck_assert_msg(r->dkim_sig[i].result == MP_DKIM_TEMPERROR ||
		    r->dkim_sig[i].result == MP_DKIM_NONE, "%zu: %s (%s)", i,
		    mp_dkim_result_str(r->dkim_sig[i].result), r->dkim_sig[i].reason);
	ck_assert_msg(r->spf.result == MP_SPF_PASS, "spf=%s (%s)",
	    mp_spf_result_str(r->spf.result), r->spf.reason);
	ck_assert_int_ne(r->dmarc_result, MP_DMARC_PASS);
	ck_assert_uint_lt(r->elapsed_ms, 4000);
	mp_verdict_free(&v);
	mp_dkim_msg_free(&dm);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(posture_cached_per_ttl)
{
	static const char *const off[] = { "policy", "posture_ttl", "0", NULL };
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), NULL);
	struct mp_posture *a = xmalloc(sizeof(*a)), *b = xmalloc(sizeof(*b));
	unsigned long hits, misses;

	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture(ev, "pass.example.com", b);
	mp_evaluator_posture(ev, "weak.example.com", b);
	mp_evaluator_posture_stats(ev, &hits, &misses);
	ck_assert_uint_eq(hits, 1);
	ck_assert_uint_eq(misses, 2);
	ck_assert_int_eq(a->score, 100);
	ck_assert_int_eq(b->score, 48);
	mp_evaluator_free(&ev);

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), off);
	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture_stats(ev, &hits, &misses);
	ck_assert_uint_eq(hits, 0);
	mp_evaluator_free(&ev);

	/* An incomplete posture (DNS down) is never cached. */
	ev = fixture_evaluator("127.0.0.1@9", NULL);
	mp_evaluator_posture(ev, "pass.example.com", a);
	ck_assert(!a->complete);
	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture_stats(ev, &hits, &misses);
	ck_assert_uint_eq(hits, 0);
	ck_assert_uint_eq(misses, 2);
	mp_evaluator_free(&ev);
	free(a);
	free(b);
}
END_TEST

START_TEST(bad_authserv_id_refused)
{
	struct mp_conf *conf = mp_conf_new_defaults();
	struct mp_evaluator *ev;
	char err[512];

	/* conf already refuses non-tokens; a direct set must fail too. */
	if (mp_conf_set(conf, "policy", "authserv_id", "a b", err, sizeof(err))) {
		ev = mp_evaluator_new(conf, err, sizeof(err));
		ck_assert_ptr_null(ev);
	}
	mp_conf_unref(&conf);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("verdict");
	TCase *tc = tcase_create("verdict");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, action_per_settings, 0, (int)MP_ARRAY_SIZE(actions));
	tcase_add_test(tc, no_from_and_multiple_from);
	tcase_add_test(tc, unusable_from_is_not_a_bypass);
	tcase_add_test(tc, temperror_tempfails_when_asked);
	tcase_add_test(tc, dkim_only_from_trusted_authserv_ids);
	tcase_add_test(tc, trusted_dkim_ignored_when_verifying);
	tcase_add_test(tc, authres_dkim_reads_back);
	tcase_add_test(tc, dkim_signed_message_passes_dmarc);
	tcase_add_test(tc, dkim_unsigned_twin_fails);
	tcase_add_test(tc, slow_dkim_keys_leave_time_for_spf);
	tcase_add_loop_test(tc, authres_value, 0, (int)MP_ARRAY_SIZE(authres));
	tcase_add_test(tc, posture_cached_per_ttl);
	tcase_add_test(tc, bad_authserv_id_refused);
	suite_add_tcase(s, tc);
	return s;
}
