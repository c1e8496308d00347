/*
 * fuzz_dkim: policy/dkim over the fake DNS. The input is a fakedns.h
 * scenario (its "hdr" lines are the header fields, its TXT lines the
 * keys), then a line "body" and the body's bytes. Lines "max N",
 * "bodylength pass" and "chunk N" set [dkim] max_signatures, body_length
 * and the size of the body chunks. The seeds are messages signed by
 * dkimpy (tests/dkim/sign) with their keys, so that mutations start from
 * signatures that verify.
 *
 * Oracle: one outcome per DKIM-Signature field up to MP_DKIM_MAX, in the
 * fields' order; at most max_signatures checked, and a result of none
 * exactly for those not checked; every field terminated and printable,
 * d= a normalised domain or ""; a reason for every result but a plain
 * pass; a pass never with rsa-sha1, an RSA key under 1024 bits or (under
 * body_length = policy) an unsigned part of the body; and a second
 * finish says the same as the first.
 */
#include "config.h"

#include <stdlib.h>

#include "dkim.h"
#include "fakedns.h"
#include "fuzz.h"
#include "log.h"

static struct fz_scenario sc;
static struct mp_dns *dns;
/* One verifier per options, made when first needed: libopendkim's
 * start-up (dkim_init reads resolv.conf) is not what is fuzzed. */
static struct mp_dkim *verifiers[MP_DKIM_MAX + 1][2];
static bool verbose;    /* MP_FUZZ_VERBOSE set: print each outcome (for seeds) */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dns = fz_dns_open(&sc);
	verbose = getenv("MP_FUZZ_VERBOSE") != NULL;
	/* l= leaving text unsigned is logged at LOG_INFO: not on every run. */
	mp_log_set_level(verbose ? LOG_DEBUG : LOG_WARNING);
	return 0;
}

/* The options lines of the scenario part. */
static void
options(const char *s, size_t n, struct mp_dkim_options *o, size_t *chunk)
{
	const char *end = s + n;

	memset(o, 0, sizeof(*o));
	o->verify = true;
	o->max_signatures = 10;
	*chunk = 7;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);

		if (len > 4 && memcmp(s, "max ", 4) == 0) {
			unsigned long v = strtoul(s + 4, NULL, 10);

			o->max_signatures = v < 1 ? 1 : v > MP_DKIM_MAX ? MP_DKIM_MAX : (unsigned)v;
		}
		else if (len > 6 && memcmp(s, "chunk ", 6) == 0)
			*chunk = 1 + strtoul(s + 6, NULL, 10) % 70000;
		else if (len == 15 && memcmp(s, "bodylength pass", 15) == 0)
			o->body_length_pass = true;
		s += len + 1;
	}
}

static bool
is_signature(const char *name)
{
	size_t n = strlen(name);

	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	return n == 14 && mp_strncasecmp(name, "DKIM-Signature", 14) == 0;
}

static void
check_sig(const struct mp_dkim_sig *s, const struct mp_dkim_options *o)
{
	char norm[MP_DOMAIN_MAX];

	FZ_CHECK(fz_terminated(s->domain, sizeof(s->domain)), "domain not terminated");
	FZ_CHECK(fz_terminated(s->selector, sizeof(s->selector)), "selector not terminated");
	FZ_CHECK(fz_terminated(s->b, sizeof(s->b)), "b not terminated");
	FZ_CHECK(fz_terminated(s->algorithm, sizeof(s->algorithm)), "algorithm not terminated");
	FZ_CHECK(fz_terminated(s->reason, sizeof(s->reason)), "reason not terminated");
	FZ_CHECK(fz_printable(s->selector, strlen(s->selector)), "selector not printable");
	FZ_CHECK(fz_printable(s->b, strlen(s->b)), "b not printable");
	FZ_CHECK(fz_printable(s->reason, strlen(s->reason)), "reason not printable");
	FZ_CHECK(s->domain[0] == '\0' || (mp_domain_normalize(s->domain, strlen(s->domain),
	    norm, NULL) && strcmp(norm, s->domain) == 0), "d= \"%s\" not normalised", s->domain);
	FZ_CHECK(s->result >= MP_DKIM_NONE && s->result <= MP_DKIM_PERMERROR, "result %d",
	    (int)s->result);
	FZ_CHECK(s->checked == (s->result != MP_DKIM_NONE), "checked %d with %s", s->checked,
	    mp_dkim_result_str(s->result));
	FZ_CHECK(s->result == MP_DKIM_PASS || s->reason[0] != '\0', "%s without a reason",
	    mp_dkim_result_str(s->result));
	if (s->result != MP_DKIM_PASS)
		return;
	FZ_CHECK(s->domain[0] != '\0', "a pass without d=");
	FZ_CHECK(strcmp(s->algorithm, "rsa-sha1") != 0, "rsa-sha1 passed");
	FZ_CHECK(strcmp(s->algorithm, "ed25519-sha256") == 0 || s->key_bits >= 1024,
	    "an RSA key of %u bits passed", s->key_bits);
	FZ_CHECK(!s->body_truncated || o->body_length_pass, "l= left text unsigned, yet pass");
	FZ_CHECK(s->body_truncated || s->reason[0] == '\0', "a plain pass with a reason");
}

static bool
same(const struct mp_dkim_sig *a, const struct mp_dkim_sig *b)
{
	return strcmp(a->domain, b->domain) == 0 && strcmp(a->selector, b->selector) == 0 &&
	    strcmp(a->b, b->b) == 0 && strcmp(a->algorithm, b->algorithm) == 0 &&
	    strcmp(a->reason, b->reason) == 0 && a->key_bits == b->key_bits &&
	    a->result == b->result && a->checked == b->checked &&
	    a->body_truncated == b->body_truncated;
}

static struct mp_dkim *
verifier(const struct mp_dkim_options *o)
{
	struct mp_dkim **d = &verifiers[o->max_signatures][o->body_length_pass];
	char err[256];

	if (*d == NULL)
		*d = mp_dkim_new(dns, o, err, sizeof(err));
	FZ_CHECK(*d != NULL, "mp_dkim_new: %s", err);
	return *d;
}

static void
run(const uint8_t *body, size_t nbody, const struct mp_dkim_options *o, size_t chunk)
{
	struct mp_dkim *d = verifier(o);
	struct mp_dkim_msg *m;
	struct mp_dkim_sig *out = calloc(2 * MP_DKIM_MAX, sizeof(*out));
	struct mp_deadline dl;
	struct mp_buf v = MP_BUF_INIT;
	size_t nsig = 0, n, checked = 0;

	m = mp_dkim_msg_new(d);
	for (size_t i = 0; i < sc.nhdr; i++) {
		/* the space libmilter takes away, as the milter puts it back */
		mp_buf_reset(&v);
		mp_buf_putc(&v, ' ');
		mp_buf_append(&v, sc.hdr[i].value, sc.hdr[i].value_len);
		mp_dkim_msg_header(m, sc.hdr[i].name, v.data, v.len);
		nsig += is_signature(sc.hdr[i].name);
	}
	mp_dkim_msg_eoh(m);
	FZ_CHECK(mp_dkim_msg_signed(m) == (nsig > 0), "signed %d with %zu fields",
	    mp_dkim_msg_signed(m), nsig);
	for (size_t p = 0; p < nbody; p += chunk)
		mp_dkim_msg_body(m, body + p, nbody - p < chunk ? nbody - p : chunk);
	mp_deadline_set(&dl, 1000);
	n = mp_dkim_msg_finish(m, &dl, out, MP_DKIM_MAX);
	FZ_CHECK(n == (nsig < MP_DKIM_MAX ? nsig : MP_DKIM_MAX), "%zu outcomes for %zu fields",
	    n, nsig);
	for (size_t i = 0; i < n; i++) {
		if (verbose)
			fprintf(stderr, "d=%s s=%s a=%s %s (%s)\n", out[i].domain, out[i].selector,
			    out[i].algorithm, mp_dkim_result_str(out[i].result), out[i].reason);
		check_sig(&out[i], o);
		checked += out[i].checked;
	}
	FZ_CHECK(checked <= o->max_signatures, "%zu checked of at most %u", checked,
	    o->max_signatures);
	FZ_CHECK(mp_dkim_msg_finish(m, &dl, out + MP_DKIM_MAX, MP_DKIM_MAX) == n,
	    "a second finish counts otherwise");
	for (size_t i = 0; i < n; i++)
		FZ_CHECK(same(&out[i], &out[MP_DKIM_MAX + i]), "a second finish differs");
	mp_dkim_msg_free(&m);
	mp_buf_free(&v);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char mark[] = "\nbody\n";
	const uint8_t *body = NULL;
	size_t head = size, nbody = 0, chunk;
	struct mp_dkim_options o;

	for (size_t i = 0; i + sizeof(mark) - 1 <= size; i++) {
		if (memcmp(data + i, mark, sizeof(mark) - 1) == 0) {
			head = i + 1;
			body = data + i + sizeof(mark) - 1;
			nbody = size - (i + sizeof(mark) - 1);
			break;
		}
	}
	fz_scenario_read(&sc, data, head);
	options((const char *)data, head, &o, &chunk);
	run(body, nbody, &o, chunk);
	fz_scenario_free(&sc);
	return 0;
}
