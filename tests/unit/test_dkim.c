/*
 * dkim: policy/dkim over the test NSD (tests/zones/dkim.example.org.zone)
 * on messages signed at test time by dkimpy (tests/dkim/sign), an
 * implementation that is not ours: every case of issue 13 the module
 * decides alone, the hostile inputs with their bounds, and the key
 * prefetch of policy/dns. The slow-key case goes through
 * MP_TEST_RESOLVER_DROP (tests/harness/dns-drop.py never answers names
 * under slow.example.org).
 */
#include "config.h"

#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "dkim.h"
#include "dnscache.h"
#include "util.h"

#define DOM "dkim.example.org"
#define BASE_MSG \
	"From: Alice <alice@" DOM ">\n" \
	"To: Bob <bob@example.net>\n" \
	"Subject: Quarterly report\n" \
	"Date: Sun, 6 Dec 2026 05:00:00 +0000\n" \
	"Message-ID: <q4@" DOM ">\n" \
	"\n" \
	"Hello Bob,\n" \
	"\n" \
	"  the numbers  are in.   \n" \
	"\n" \
	"\n"

static struct mp_dns *g_dns;
static struct mp_dkim *g_dkim;

static struct mp_dns *
dns_at(const char *env, unsigned timeout_ms)
{
	struct mp_dns_options opt;
	struct mp_dns *dns;
	const char *r = test_env(env);
	char err[256];

	ck_assert_msg(r != NULL, "%s not set: run under tests/harness/with-servers", env);
	memset(&opt, 0, sizeof(opt));
	opt.upstream = r;
	opt.timeout_ms = timeout_ms;
	dns = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dns != NULL, "mp_dns_new: %s", err);
	return dns;
}

static struct mp_dkim *
dkim_with(struct mp_dns *dns, unsigned max, bool body_length_pass)
{
	struct mp_dkim_options o;
	struct mp_dkim *d;
	char err[256];

	memset(&o, 0, sizeof(o));
	o.verify = true;
	o.max_signatures = max;
	o.body_length_pass = body_length_pass;
	d = mp_dkim_new(dns, &o, err, sizeof(err));
	ck_assert_msg(d != NULL, "mp_dkim_new: %s", err);
	return d;
}

static void
setup(void)
{
	g_dns = dns_at("MP_TEST_RESOLVER", 3000);
	g_dkim = dkim_with(g_dns, 10, false);
}

static void
teardown(void)
{
	mp_dkim_free(&g_dkim);
	ck_assert_ptr_null(g_dkim);
	mp_dns_free(&g_dns);
}

/* A file of n bytes under /tmp, for dkimpy's stdin; the caller unlinks it. */
static char *
temp_file(const char *data, size_t n)
{
	char *path = xstrdup("/tmp/test_dkim.XXXXXX");
	int fd = mkstemp(path);

	ck_assert_msg(fd >= 0, "mkstemp");
	ck_assert(write(fd, data, n) == (ssize_t)n);
	close(fd);
	return path;
}

/* Runs tests/dkim/sign with opts on the file in; its output into out (a path) or returned. */
static char *
run_sign(const char *opts, const char *in, const char *out)
{
	char cmd[1024];
	struct mp_buf b = MP_BUF_INIT;
	char chunk[65536];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s < %s%s%s", test_path("dkim/sign"),
	    opts, in, out ? " > " : "", out ? out : "");
	ck_assert_msg((p = popen(cmd, "r")) != NULL, "popen %s", cmd);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		mp_buf_append(&b, chunk, n);
	ck_assert_msg(pclose(p) == 0, "%s failed", cmd);
	if (out != NULL) {
		mp_buf_free(&b);
		return NULL;
	}
	return mp_buf_steal(&b);
}

/* msg signed by dkimpy with opts ("-s weak", "-c simple/simple", ...). */
static char *
sign(const char *msg, const char *opts)
{
	char *in = temp_file(msg, strlen(msg)), *out = run_sign(opts, in, NULL);

	unlink(in);
	free(in);
	return out;
}

/* s with the first from replaced by to (which must be there). */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	struct mp_buf b = MP_BUF_INIT;

	ck_assert_msg(at != NULL, "\"%s\" not in the message", from);
	mp_buf_append(&b, s, (size_t)(at - s));
	mp_buf_puts(&b, to);
	mp_buf_puts(&b, at + strlen(from));
	return mp_buf_steal(&b);
}

static size_t
line_end(const char *t, size_t len, size_t p)
{
	const char *nl = memchr(t + p, '\n', len - p);

	return nl != NULL ? (size_t)(nl - t) : len;
}

/* The header fields of t[0..len) into m, as a milter gets them; returns the body's offset. */
static size_t
feed_header(struct mp_dkim_msg *m, const char *t, size_t len)
{
	size_t p = 0;

	while (p < len) {
		size_t eol = line_end(t, len, p), end = eol, next = eol + 1;
		const char *colon;
		char *name;

		if (eol == p || (eol == p + 1 && t[p] == '\r'))
			return eol + 1 < len ? eol + 1 : len;
		while (next < len && (t[next] == ' ' || t[next] == '\t')) {
			end = line_end(t, len, next);
			next = end + 1;
		}
		if (end > p && t[end - 1] == '\r')
			end--;
		colon = memchr(t + p, ':', end - p);
		ck_assert_msg(colon != NULL, "a header line without a colon");
		name = xstrndup(t + p, (size_t)(colon - (t + p)));
		mp_dkim_msg_header(m, name, colon + 1, end - (size_t)(colon + 1 - t));
		free(name);
		p = next;
	}
	return len;
}

/* The whole message through d: header, eoh, body in chunks of step, finish. */
static size_t
verify_with(struct mp_dkim *d, const char *t, size_t step, unsigned deadline_ms,
    struct mp_dkim_sig *out)
{
	struct mp_dkim_msg *m = mp_dkim_msg_new(d);
	struct mp_deadline dl;
	size_t len = strlen(t), p = feed_header(m, t, len), n;

	mp_dkim_msg_eoh(m);
	for (; p < len; p += step)
		mp_dkim_msg_body(m, (const unsigned char *)t + p, len - p < step ? len - p : step);
	mp_deadline_set(&dl, deadline_ms);
	n = mp_dkim_msg_finish(m, &dl, out, MP_DKIM_MAX);
	mp_dkim_msg_free(&m);
	ck_assert_ptr_null(m);
	return n;
}

/* One signature expected: its outcome. */
static struct mp_dkim_sig
verify1(const char *t)
{
	struct mp_dkim_sig out[MP_DKIM_MAX];

	ck_assert_uint_eq(verify_with(g_dkim, t, 700, 10000, out), 1);
	ck_assert(out[0].checked);
	return out[0];
}

#define ASSERT_RESULT(s, want) ck_assert_msg((s).result == (want), \
	"d=%s s=%s: %s (%s), want %s", (s).domain, (s).selector, \
	mp_dkim_result_str((s).result), (s).reason, mp_dkim_result_str(want))

/* Signs BASE_MSG with opts, verifies it unchanged: one outcome. */
static struct mp_dkim_sig
signed_base(const char *opts, char **text_r)
{
	char *t = sign(BASE_MSG, opts);
	struct mp_dkim_sig s = verify1(t);

	if (text_r != NULL)
		*text_r = t;
	else
		free(t);
	return s;
}

START_TEST(strings_and_options)
{
	struct mp_conf *c = mp_conf_new_defaults();
	struct mp_dkim_options o;

	ck_assert_str_eq(mp_dkim_result_str(MP_DKIM_NONE), "none");
	ck_assert_str_eq(mp_dkim_result_str(MP_DKIM_PASS), "pass");
	ck_assert_str_eq(mp_dkim_result_str(MP_DKIM_POLICY), "policy");
	ck_assert_str_eq(mp_dkim_result_str(MP_DKIM_NEUTRAL), "neutral");
	ck_assert_str_eq(mp_dkim_result_str(MP_DKIM_TEMPERROR), "temperror");
	ck_assert_str_eq(mp_dkim_result_str(MP_DKIM_PERMERROR), "permerror");
	mp_dkim_options_from_conf(c, &o);
	ck_assert(o.verify);
	ck_assert_uint_eq(o.max_signatures, 10);
	ck_assert(!o.body_length_pass);
	mp_conf_unref(&c);
}
END_TEST

START_TEST(pass_relaxed)
{
	char *t;
	struct mp_dkim_sig s = signed_base("-s s2048 -c relaxed/relaxed", &t);
	char b[16];

	ASSERT_RESULT(s, MP_DKIM_PASS);
	ck_assert_str_eq(s.domain, DOM);
	ck_assert_str_eq(s.selector, "s2048");
	ck_assert_str_eq(s.algorithm, "rsa-sha256");
	ck_assert_uint_eq(s.key_bits, 2048);
	ck_assert_str_eq(s.reason, "");
	ck_assert(!s.body_truncated);
	ck_assert_uint_eq(strlen(s.b), 8);
	snprintf(b, sizeof(b), "b=%s", s.b);
	ck_assert_msg(strstr(t, b) != NULL, "%s is not the start of b=", s.b);
	free(t);
}
END_TEST

START_TEST(pass_simple)
{
	struct mp_dkim_sig s = signed_base("-c simple/simple", NULL);

	ASSERT_RESULT(s, MP_DKIM_PASS);
	s = signed_base("-s s1024 -c simple/relaxed", NULL);
	ASSERT_RESULT(s, MP_DKIM_PASS);
	ck_assert_uint_eq(s.key_bits, 1024);
}
END_TEST

/* Bare LF line ends, as a file on disk has them: the same answers. */
START_TEST(lf_line_ends)
{
	static const char *opts[] = { "-c relaxed/relaxed", "-c simple/simple" };

	for (size_t i = 0; i < MP_ARRAY_SIZE(opts); i++) {
		char *t = sign(BASE_MSG, opts[i]);
		struct mp_buf lf = MP_BUF_INIT;

		for (const char *p = t; *p != '\0'; p++)
			if (*p != '\r')
				mp_buf_putc(&lf, *p);
		ASSERT_RESULT(verify1(mp_buf_str(&lf)), MP_DKIM_PASS);
		mp_buf_free(&lf);
		free(t);
	}
}
END_TEST

/* The body and the header as they change after signing. */
START_TEST(altered)
{
	static const struct {
		const char *from, *to, *why;
	} cases[] = {
		{ "numbers", "NUMBERS", "body hash did not verify" },
		{ "Subject: Quarterly report", "Subject: Quarterly report!",
		    "signature did not verify" },
		{ "From: Alice <alice@" DOM ">", "From: Mallory <mallory@" DOM ">",
		    "signature did not verify" },
		/* a list: a tag in the Subject and a footer */
		{ "Subject: Quarterly report", "Subject: [team] Quarterly report",
		    "signature did not verify" },
	};
	char *t = sign(BASE_MSG, "-c relaxed/relaxed");

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		char *a = replace(t, cases[i].from, cases[i].to), *b;
		struct mp_dkim_sig s = verify1(a);

		ASSERT_RESULT(s, MP_DKIM_FAIL);
		ck_assert_str_eq(s.reason, cases[i].why);
		ck_assert_uint_eq(s.key_bits, 2048);
		b = replace(a, "are in.   \r\n", "are in.   \r\n-- \r\nteam mailing list\r\n");
		ASSERT_RESULT(verify1(b), MP_DKIM_FAIL);
		free(b);
		free(a);
	}
	free(t);
}
END_TEST

/*
 * A From field put on top of a message the domain signed: h= names From
 * once, so libopendkim hashes the original and the new one, which a mail
 * reader shows, is signed by nobody. Never a pass. With From signed twice
 * (dkimpy's default oversigning) the extra field breaks the signature.
 */
START_TEST(unsigned_from_on_top)
{
	static const char extra[] = "From: Boss <boss@" DOM ">\r\n";
	char *t = sign(BASE_MSG, "-H from:to:subject:date:message-id");
	char *o = sign(BASE_MSG, "");
	struct mp_buf b = MP_BUF_INIT;
	struct mp_dkim_sig s;

	ASSERT_RESULT(verify1(t), MP_DKIM_PASS);
	mp_buf_puts(&b, extra);
	mp_buf_puts(&b, t);
	s = verify1(mp_buf_str(&b));
	ASSERT_RESULT(s, MP_DKIM_POLICY);
	ck_assert_str_eq(s.reason, "2 From fields, h= signs 1: a From field is not signed");
	mp_buf_reset(&b);
	mp_buf_puts(&b, extra);
	mp_buf_puts(&b, o);
	ASSERT_RESULT(verify1(mp_buf_str(&b)), MP_DKIM_FAIL);
	mp_buf_free(&b);
	free(o);
	free(t);
}
END_TEST

START_TEST(key_problems)
{
	static const struct {
		const char *sel;
		enum mp_dkim_result want;
		const char *why;
	} cases[] = {
		{ "revoked", MP_DKIM_PERMERROR, "key revoked: empty p=" },
		{ "nokey", MP_DKIM_PERMERROR, "no key: selector not found, NXDOMAIN" },
		{ "notakey", MP_DKIM_PERMERROR,
		    "key record: p= is not a public key of the signature's type" },
		{ "garbage", MP_DKIM_PERMERROR, "TXT record at the selector is not a DKIM key record" },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		char opts[64];
		struct mp_dkim_sig s;

		snprintf(opts, sizeof(opts), "-s %s", cases[i].sel);
		s = signed_base(opts, NULL);
		ASSERT_RESULT(s, cases[i].want);
		ck_assert_str_eq(s.reason, cases[i].why);
		ck_assert_str_eq(s.selector, cases[i].sel);
		ck_assert_uint_eq(s.key_bits, 0);
	}
}
END_TEST

START_TEST(ed25519)
{
	struct mp_dkim_sig s = signed_base("-s ed", NULL);

	ck_assert_str_eq(s.algorithm, "ed25519-sha256");
	if (!mp_dkim_has_ed25519(g_dkim)) {
		ASSERT_RESULT(s, MP_DKIM_NEUTRAL);
		return;
	}
	ASSERT_RESULT(s, MP_DKIM_PASS);
	ck_assert_uint_eq(s.key_bits, 256);
}
END_TEST

/* RFC 8301: verified, but never a pass. */
START_TEST(rfc8301)
{
	struct mp_dkim_sig s = signed_base("-s weak", NULL);

	ASSERT_RESULT(s, MP_DKIM_POLICY);
	ck_assert_uint_eq(s.key_bits, 512);
	ck_assert_str_eq(s.reason, "RSA key of 512 bits, RFC 8301 wants 1024 or more");
	s = signed_base("-a rsa-sha1", NULL);
	ASSERT_RESULT(s, MP_DKIM_POLICY);
	ck_assert_str_eq(s.algorithm, "rsa-sha1");
	ck_assert_str_eq(s.reason, "rsa-sha1 is not accepted, RFC 8301");
}
END_TEST

/* Of two key records (512 and 2048 bits), the strongest: the one that signed. */
START_TEST(two_key_records)
{
	struct mp_dkim_sig s = signed_base("-s twokeys", NULL);

	ASSERT_RESULT(s, MP_DKIM_PASS);
	ck_assert_uint_eq(s.key_bits, 2048);
}
END_TEST

START_TEST(two_signatures_one_good)
{
	char *once = sign(BASE_MSG, "-s s2048"), *twice = sign(once, "-s revoked");
	struct mp_dkim_sig out[MP_DKIM_MAX];

	ck_assert_uint_eq(verify_with(g_dkim, twice, 4096, 10000, out), 2);
	/* header order: the second signer's field is on top */
	ck_assert_str_eq(out[0].selector, "revoked");
	ASSERT_RESULT(out[0], MP_DKIM_PERMERROR);
	ck_assert_str_eq(out[1].selector, "s2048");
	ASSERT_RESULT(out[1], MP_DKIM_PASS);
	free(twice);
	free(once);
}
END_TEST

START_TEST(body_length)
{
	char *t = sign(BASE_MSG, "-l"), *more;
	struct mp_dkim *pass = dkim_with(g_dns, 10, true);
	struct mp_dkim_sig s = verify1(t), out[MP_DKIM_MAX];

	/* l= covering the whole body */
	ASSERT_RESULT(s, MP_DKIM_PASS);
	ck_assert(!s.body_truncated);
	more = replace(t, "are in.   \r\n", "are in.   \r\nBuy now: http://spam.example/\r\n");
	s = verify1(more);
	ASSERT_RESULT(s, MP_DKIM_POLICY);
	ck_assert(s.body_truncated);
	ck_assert_msg(strstr(s.reason, "unsigned") != NULL, "%s", s.reason);
	ck_assert_uint_eq(verify_with(pass, more, 100, 10000, out), 1);
	ASSERT_RESULT(out[0], MP_DKIM_PASS);
	ck_assert(out[0].body_truncated);
	ck_assert_msg(strstr(out[0].reason, "unsigned") != NULL, "%s", out[0].reason);
	mp_dkim_free(&pass);
	free(more);
	free(t);
}
END_TEST

/* A key server that never answers: temperror within the deadline. */
START_TEST(slow_key)
{
	struct mp_dns *dns = dns_at("MP_TEST_RESOLVER_DROP", 5000);
	struct mp_dkim *d = dkim_with(dns, 10, false);
	char *t = sign(BASE_MSG, "-d slow.example.org");
	struct mp_dkim_sig out[MP_DKIM_MAX];
	unsigned long long t0 = mp_now_ms();

	ck_assert_uint_eq(verify_with(d, t, 4096, 1000, out), 1);
	ck_assert_msg(mp_now_ms() - t0 < 3000, "took %llu ms", mp_now_ms() - t0);
	ASSERT_RESULT(out[0], MP_DKIM_TEMPERROR);
	ck_assert_str_eq(out[0].reason, "key lookup: timeout");
	ck_assert_str_eq(out[0].domain, "slow.example.org");
	free(t);
	mp_dkim_free(&d);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(unsigned_message)
{
	struct mp_dkim_msg *m = mp_dkim_msg_new(g_dkim);
	struct mp_dkim_sig out[MP_DKIM_MAX];
	struct mp_deadline dl;
	size_t p = feed_header(m, BASE_MSG, strlen(BASE_MSG));

	mp_dkim_msg_eoh(m);
	ck_assert(!mp_dkim_msg_signed(m));
	mp_dkim_msg_body(m, (const unsigned char *)BASE_MSG + p, strlen(BASE_MSG) - p);
	mp_deadline_set(&dl, 1000);
	ck_assert_uint_eq(mp_dkim_msg_finish(m, &dl, out, MP_DKIM_MAX), 0);
	mp_dkim_msg_free(&m);
}
END_TEST

/* A signature field that cannot be read is neutral, with the reason. */
START_TEST(syntax_neutral)
{
	static const struct {
		const char *from, *to, *why, *from2, *to2;
	} cases[] = {
		{ "v=1;", "v=2;", "signature syntax: v= is not 1", NULL, NULL },
		{ "a=rsa-sha256;", "a=rsa-md5;", "signature syntax: a= names an unknown algorithm",
		    NULL, NULL },
		{ "c=relaxed/relaxed;", "c=relaxed/loose;",
		    "signature syntax: c= names an unknown canonicalization", NULL, NULL },
		{ "d=" DOM ";", "d=" DOM "; d=example.net;", "signature syntax: a tag appears twice",
		    NULL, NULL },
		{ "s=s2048;", "s=s2048;; ", "signature syntax: a tag name is missing or does not "
		    "start with a letter", NULL, NULL },
		{ "q=dns/txt;", "q=http/well-known;", "signature syntax: q= has no dns/txt",
		    NULL, NULL },
		{ "s=s2048;", "s=s2048.;", "signature syntax: s= is not a selector", NULL, NULL },
		{ "v=1;", "", "signature syntax: a required tag is missing", NULL, NULL },
		{ "h=from :", "h=", "signature syntax: h= does not name From",
		    "message-id : from;", "message-id;" },
		{ " b=", " b=!!", "signature syntax: b= is not base64", NULL, NULL },
		{ "bh=", "bh=AAAA", "signature syntax: bh= is not a base64 hash", NULL, NULL },
		{ "bh=", "bh=*", "signature syntax: bh= is not a base64 hash", NULL, NULL },
	};
	char *t = sign(BASE_MSG, "");

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		char *a = replace(t, cases[i].from, cases[i].to), *b;
		struct mp_dkim_sig s;

		if (cases[i].from2 != NULL) {
			b = replace(a, cases[i].from2, cases[i].to2);
			free(a);
			a = b;
		}
		s = verify1(a);
		ASSERT_RESULT(s, MP_DKIM_NEUTRAL);
		ck_assert_str_eq(s.reason, cases[i].why);
		free(a);
	}
	free(t);
}
END_TEST

/* A signature libopendkim reads but refuses: still neutral, with its reason. */
START_TEST(expired_neutral)
{
	char *t = sign(BASE_MSG, ""), *a = replace(t, "t=", "x=1700000000; t=");
	struct mp_dkim_sig s = verify1(a);

	ASSERT_RESULT(s, MP_DKIM_NEUTRAL);
	ck_assert_str_eq(s.reason, "signature: signature expired");
	free(a);
	free(t);
}
END_TEST

/* A forged signature field (never verifies), with d= and h= as given. */
static void
put_fake_signature(struct mp_buf *b, const char *d, const char *h)
{
	mp_buf_printf(b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=x;\r\n"
	    " h=%s; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
	    " b=dGhpcyBpcyBub3QgYSBzaWduYXR1cmU=\r\n", d, h);
}

/* A thousand signature fields: ten verified, the aligned one among them. */
START_TEST(thousand_signatures)
{
	char *t = sign(BASE_MSG, "");
	struct mp_buf b = MP_BUF_INIT;
	struct mp_dkim_sig out[MP_DKIM_MAX];
	size_t n, checked = 0, pass = 0;
	unsigned long long t0;

	for (int i = 0; i < 999; i++)
		put_fake_signature(&b, "example.net", "from:to:subject");
	mp_buf_puts(&b, t);
	t0 = mp_now_ms();
	n = verify_with(g_dkim, mp_buf_str(&b), 65536, 10000, out);
	ck_assert_msg(mp_now_ms() - t0 < 5000, "took %llu ms", mp_now_ms() - t0);
	ck_assert_uint_eq(n, MP_DKIM_MAX);
	for (size_t i = 0; i < n; i++) {
		if (out[i].checked)
			checked++;
		else {
			ASSERT_RESULT(out[i], MP_DKIM_NONE);
			ck_assert_str_eq(out[i].reason, "not checked: over [dkim] max_signatures");
		}
		if (out[i].result == MP_DKIM_PASS) {
			pass++;
			ck_assert_str_eq(out[i].domain, DOM);
			ck_assert_uint_eq(i, n - 1);
		}
	}
	ck_assert_uint_eq(checked, 10);
	ck_assert_uint_eq(pass, 1);
	mp_buf_free(&b);
	free(t);
}
END_TEST

START_TEST(max_signatures)
{
	struct mp_dkim *one = dkim_with(g_dns, 1, false);
	char *once = sign(BASE_MSG, "-s s2048"), *twice = sign(once, "-s s1024");
	struct mp_dkim_sig out[MP_DKIM_MAX];

	ck_assert_uint_eq(verify_with(one, twice, 4096, 10000, out), 2);
	ck_assert(out[0].checked);
	ASSERT_RESULT(out[0], MP_DKIM_PASS);
	ck_assert_str_eq(out[0].selector, "s1024");
	ck_assert(!out[1].checked);
	ASSERT_RESULT(out[1], MP_DKIM_NONE);
	ck_assert_str_eq(out[1].selector, "s2048");
	mp_dkim_free(&one);
	free(twice);
	free(once);
}
END_TEST

/* A 100 kB h= list: refused before libopendkim, which would cut it at 4 kB. */
START_TEST(long_h_list)
{
	struct mp_buf h = MP_BUF_INIT, b = MP_BUF_INIT;
	struct mp_dkim_sig s;
	unsigned long long t0 = mp_now_ms();

	mp_buf_puts(&h, "from");
	while (h.len < 100 * 1024)
		mp_buf_puts(&h, ":subject");
	put_fake_signature(&b, DOM, mp_buf_str(&h));
	mp_buf_puts(&b, BASE_MSG);
	s = verify1(mp_buf_str(&b));
	ASSERT_RESULT(s, MP_DKIM_NEUTRAL);
	ck_assert_str_eq(s.reason, "signature syntax: h= is longer than 4095 bytes");
	ck_assert_str_eq(s.domain, DOM);
	ck_assert_msg(mp_now_ms() - t0 < 2000, "took %llu ms", mp_now_ms() - t0);
	mp_buf_free(&h);
	mp_buf_free(&b);
}
END_TEST

/* Over the header budget, in bytes or in fields: permerror, nothing verified. */
START_TEST(header_overflow)
{
	static const struct {
		size_t fields, bytes;
		const char *why;
	} cases[] = {
		{ 1100, 20, "over 1000 header fields: not verified" },
		{ 600, 2000, "header section over 1048576 bytes: not verified" },
	};
	char *t = sign(BASE_MSG, "");

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		struct mp_buf b = MP_BUF_INIT;
		struct mp_dkim_sig s;
		const char *hdr_end = strstr(t, "\r\n\r\n");

		mp_buf_append(&b, t, (size_t)(hdr_end - t) + 2);
		for (size_t f = 0; f < cases[i].fields; f++) {
			mp_buf_puts(&b, "X-Junk: ");
			for (size_t k = 0; k < cases[i].bytes; k++)
				mp_buf_putc(&b, 'j');
			mp_buf_puts(&b, "\r\n");
		}
		mp_buf_puts(&b, hdr_end + 2);
		s = verify1(mp_buf_str(&b));
		ASSERT_RESULT(s, MP_DKIM_PERMERROR);
		ck_assert_str_eq(s.reason, cases[i].why);
		ck_assert_str_eq(s.domain, DOM);
		mp_buf_free(&b);
	}
	free(t);
}
END_TEST

static long
rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* The header of the file at path into m; the stream is left at the body. */
static FILE *
open_message(struct mp_dkim_msg *m, const char *path)
{
	FILE *f = fopen(path, "r");
	struct mp_buf h = MP_BUF_INIT;
	char line[4096];

	ck_assert_msg(f != NULL, "%s", path);
	while (fgets(line, sizeof(line), f) != NULL && strcmp(line, "\r\n") != 0)
		mp_buf_puts(&h, line);
	mp_buf_puts(&h, "\r\n");
	feed_header(m, h.data, h.len);
	mp_buf_free(&h);
	return f;
}

/* A 50 MB body, streamed in 64 kB chunks: pass, without holding the body. */
START_TEST(body_50mb)
{
	static const char line[] =
	    "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopq\r\n";
	char in[] = "/tmp/test_dkim_big.XXXXXX", out[] = "/tmp/test_dkim_bigs.XXXXXX";
	struct mp_dkim_msg *m = mp_dkim_msg_new(g_dkim);
	struct mp_dkim_sig sigs[MP_DKIM_MAX];
	unsigned char chunk[65536];
	struct mp_deadline dl;
	long before;
	size_t n;
	FILE *f;
	int fd;

	ck_assert((fd = mkstemp(in)) >= 0);
	ck_assert((f = fdopen(fd, "w")) != NULL);
	fputs("From: Alice <alice@" DOM ">\r\nTo: bob@example.net\r\nSubject: big\r\n\r\n", f);
	for (size_t i = 0; i < 50u * 1024 * 1024 / (sizeof(line) - 1); i++)
		fputs(line, f);
	fclose(f);
	ck_assert((fd = mkstemp(out)) >= 0);
	close(fd);
	run_sign("-c relaxed/relaxed", in, out);
	unlink(in);
	before = rss_kb();
	f = open_message(m, out);
	mp_dkim_msg_eoh(m);
	ck_assert(mp_dkim_msg_signed(m));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mp_dkim_msg_body(m, chunk, n);
	fclose(f);
	unlink(out);
	mp_deadline_set(&dl, 10000);
	ck_assert_uint_eq(mp_dkim_msg_finish(m, &dl, sigs, MP_DKIM_MAX), 1);
	ASSERT_RESULT(sigs[0], MP_DKIM_PASS);
	mp_dkim_msg_free(&m);
	ck_assert_msg(rss_kb() - before < 16 * 1024, "RSS grew by %ld kB", rss_kb() - before);
}
END_TEST

/* 50 MB without white space under relaxed canonicalization: not held, neutral. */
START_TEST(body_one_run)
{
	struct mp_dkim_msg *m = mp_dkim_msg_new(g_dkim);
	struct mp_buf b = MP_BUF_INIT;
	struct mp_dkim_sig sigs[MP_DKIM_MAX];
	unsigned char chunk[65536];
	struct mp_deadline dl;
	long before = rss_kb();

	put_fake_signature(&b, DOM, "from");
	mp_buf_puts(&b, BASE_MSG);
	feed_header(m, b.data, b.len);
	mp_dkim_msg_eoh(m);
	memset(chunk, 'A', sizeof(chunk));
	for (size_t i = 0; i < 50u * 1024 * 1024 / sizeof(chunk); i++)
		mp_dkim_msg_body(m, chunk, sizeof(chunk));
	mp_deadline_set(&dl, 10000);
	ck_assert_uint_eq(mp_dkim_msg_finish(m, &dl, sigs, MP_DKIM_MAX), 1);
	ASSERT_RESULT(sigs[0], MP_DKIM_NEUTRAL);
	ck_assert_msg(strstr(sigs[0].reason, "without white space") != NULL, "%s",
	    sigs[0].reason);
	mp_dkim_msg_free(&m);
	mp_buf_free(&b);
	ck_assert_msg(rss_kb() - before < 16 * 1024, "RSS grew by %ld kB", rss_kb() - before);
}
END_TEST

/* An answer the deadline has no time left for, yet there from the cache. */
static enum mp_dns_status
query_expired(struct mp_dns *dns, const char *name)
{
	struct mp_deadline dl;
	struct mp_dns_result *r;
	enum mp_dns_status st;

	mp_deadline_set(&dl, 1);
	usleep(5000);
	r = mp_dns_query(dns, &dl, name, MP_DNS_TXT);
	st = r->status;
	mp_dns_result_free(&r);
	return st;
}

START_TEST(prefetch_fills_cache)
{
	const char *name = "s1024._domainkey." DOM;
	struct mp_dnscache_stats st;

	ck_assert_int_eq(query_expired(g_dns, "s2048._domainkey." DOM), MP_DNS_TIMEOUT);
	mp_dns_prefetch(g_dns, name, MP_DNS_TXT);
	mp_dns_prefetch(g_dns, "bad name..", MP_DNS_TXT);
	for (int i = 0; i < 200; i++) {
		mp_dns_cache_stats(g_dns, &st);
		if (st.stored > 0)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(query_expired(g_dns, name), MP_DNS_OK);
}
END_TEST

/* Keys prefetched at the end of the header: found at the end even with no time left. */
START_TEST(prefetch_at_eoh)
{
	char *t = sign(BASE_MSG, "-s s1024");
	struct mp_dkim_msg *m = mp_dkim_msg_new(g_dkim);
	struct mp_dkim_sig out[MP_DKIM_MAX];
	struct mp_deadline dl;
	size_t p = feed_header(m, t, strlen(t));

	mp_dkim_msg_eoh(m);
	mp_dkim_msg_body(m, (const unsigned char *)t + p, strlen(t) - p);
	usleep(300000);
	mp_deadline_set(&dl, 1);
	usleep(5000);
	ck_assert_uint_eq(mp_dkim_msg_finish(m, &dl, out, MP_DKIM_MAX), 1);
	ASSERT_RESULT(out[0], MP_DKIM_PASS);
	/* a second call says the same */
	ck_assert_uint_eq(mp_dkim_msg_finish(m, &dl, out, 1), 1);
	ASSERT_RESULT(out[0], MP_DKIM_PASS);
	mp_dkim_msg_free(&m);
	free(t);
}
END_TEST

/* Fields fed in odd ways: no crash, and an answer for each signature. */
START_TEST(odd_calls)
{
	struct mp_dkim_msg *m = mp_dkim_msg_new(g_dkim);
	struct mp_dkim_sig out[MP_DKIM_MAX];
	struct mp_deadline dl;

	mp_dkim_msg_header(m, "DKIM-Signature", "\0v=1", 4);
	mp_dkim_msg_header(m, "Bad;Name", " x", 2);
	mp_dkim_msg_header(m, "DKIM-Signature ", " \r\n", 3);
	mp_dkim_msg_header(m, "From", NULL, 0);
	mp_dkim_msg_body(m, (const unsigned char *)"\r\r\n\n", 4);
	mp_dkim_msg_header(m, "X-Late", " ignored", 8);
	mp_deadline_set(&dl, 1000);
	ck_assert_uint_eq(mp_dkim_msg_finish(m, &dl, out, MP_DKIM_MAX), 2);
	ASSERT_RESULT(out[0], MP_DKIM_NEUTRAL);
	ASSERT_RESULT(out[1], MP_DKIM_NEUTRAL);
	mp_dkim_msg_free(&m);
	mp_dkim_msg_free(&m);
	ck_assert_uint_eq(mp_dkim_msg_finish(NULL, &dl, out, MP_DKIM_MAX), 0);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dkim");
	TCase *tc = tcase_create("verify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, strings_and_options);
	tcase_add_test(tc, pass_relaxed);
	tcase_add_test(tc, pass_simple);
	tcase_add_test(tc, lf_line_ends);
	tcase_add_test(tc, altered);
	tcase_add_test(tc, unsigned_from_on_top);
	tcase_add_test(tc, key_problems);
	tcase_add_test(tc, ed25519);
	tcase_add_test(tc, rfc8301);
	tcase_add_test(tc, two_key_records);
	tcase_add_test(tc, two_signatures_one_good);
	tcase_add_test(tc, body_length);
	tcase_add_test(tc, slow_key);
	tcase_add_test(tc, unsigned_message);
	tcase_add_test(tc, syntax_neutral);
	tcase_add_test(tc, expired_neutral);
	tcase_add_test(tc, prefetch_fills_cache);
	tcase_add_test(tc, prefetch_at_eoh);
	tcase_add_test(tc, odd_calls);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, thousand_signatures);
	tcase_add_test(tc, max_signatures);
	tcase_add_test(tc, long_h_list);
	tcase_add_test(tc, header_overflow);
	tcase_add_test(tc, body_50mb);
	tcase_add_test(tc, body_one_run);
	suite_add_tcase(s, tc);
	return s;
}
