/*
 * fuzz_evaluate: mp_evaluate end to end (policy/verdict.h) over the
 * fake DNS, the message and the zone read from the input (fakedns.h).
 *
 * The oracle is the point of this harness (issue 11): it catches the
 * class of bug by which a spoofed From passed, whatever the trick.
 * - DMARC pass through SPF needs an SPF pass for the identity the
 *   envelope names (after the last '@' of MAIL FROM; the HELO name for
 *   the null sender; none without '@'), and that identity aligned with
 *   the From domain: same organizational domain under the harness's own
 *   PSL (psl.dat: com, net, org, example, so the last two labels), or the
 *   same name under aspf=s.
 * - DMARC pass through DKIM needs a dkim=pass result in an A-R header of
 *   a trusted authserv-id (dkim.example.org), for a d= aligned the same
 *   way (adkim=s: the same name).
 * - The A-R value we write holds no CR and no LF but the "\n\t" folding
 *   the writer uses, and re-parses to one header with our authserv-id
 *   and one dmarc= result, the verdict's.
 * Alignment is computed here, not with policy/domain.c: an oracle must
 * not share the code it checks.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "authres.h"
#include "decide.h"
#include "fakedns.h"
#include "fuzz.h"
#include "verdict.h"

#define OUR_ID     "mx.example.org"
#define TRUSTED_ID "dkim.example.org"

static struct mp_evaluator *ev;
static struct mp_policy *policy;   /* dmarc_reject, spf_fail = reject; temperror = tempfail */
static bool verbose;    /* MP_FUZZ_VERBOSE set: print each verdict (for seeds) */
static struct fz_scenario sc;

static void
set(struct mp_conf *c, const char *sec, const char *name, const char *value)
{
	char err[256];

	if (!mp_conf_set(c, sec, name, value, err, sizeof(err))) {
		fprintf(stderr, "fuzz_evaluate: [%s] %s: %s\n", sec, name, err);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct mp_conf *c = mp_conf_new_defaults();
	char err[256];

	(void)argc;
	(void)argv;
	/* A closed loopback port: nothing could leave even past the fake. */
	set(c, "dns", "resolver", "127.0.0.1@9");
	set(c, "policy", "authserv_id", OUR_ID);
	set(c, "policy", "trusted_authserv_ids", TRUSTED_ID);
	/* DKIM results from trusted A-R headers, so that the oracle below can
	 * tell a pass through DKIM from a forged one (fuzz_dkim covers our
	 * own verification). */
	set(c, "dkim", "verify", "no");
	set(c, "policy", "psl_file", FZ_PSL_FILE);
	/* Every input evaluated afresh: no posture carried between runs. */
	set(c, "policy", "posture_ttl", "0");
	/* The strictest actions: every branch of mp_decide() is reachable. */
	set(c, "milter", "dmarc_reject", "reject");
	set(c, "milter", "spf_fail", "reject");
	set(c, "milter", "temperror", "tempfail");
	policy = mp_policy_new(c);
	ev = mp_evaluator_new(c, err, sizeof(err));
	if (ev == NULL) {
		fprintf(stderr, "fuzz_evaluate: %s\n", err);
		abort();
	}
	mp_conf_unref(&c);
	mp_dns_set_fake(fz_fake_dns, &sc);
	verbose = getenv("MP_FUZZ_VERBOSE") != NULL;
	return 0;
}

/* Lowercase, one trailing dot dropped, "" when too long. */
static void
norm(const char *d, size_t n, char out[MP_DOMAIN_MAX])
{
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n >= MP_DOMAIN_MAX)
		n = 0;
	memcpy(out, d, n);
	out[n] = '\0';
	mp_ascii_lower(out);
}

static bool
aligned(const char *a, const char *from, bool strict)
{
	char oa[MP_DOMAIN_MAX], of[MP_DOMAIN_MAX];

	if (a[0] == '\0' || from[0] == '\0')
		return false;
	if (strict)
		return strcmp(a, from) == 0;
	fz_org_domain(a, oa);
	fz_org_domain(from, of);
	return oa[0] != '\0' && strcmp(oa, of) == 0;
}

static void
check_spf_pass(const struct mp_verdict *v, const char *from, bool strict)
{
	const struct mp_spf_outcome *spf = mp_verdict_spf(v);
	const char *at = strrchr(sc.mail, '@');
	char id[MP_DOMAIN_MAX];

	FZ_CHECK(spf->result == MP_SPF_PASS, "dmarc=pass through SPF, SPF %s",
	    mp_spf_result_str(spf->result));
	if (sc.mail[0] == '\0')
		norm(sc.helo, strlen(sc.helo), id);
	else if (at != NULL)
		norm(at + 1, strlen(at + 1), id);
	else
		id[0] = '\0';
	FZ_CHECK(id[0] != '\0', "dmarc=pass through SPF, MAIL FROM \"%s\" names no domain",
	    sc.mail);
	/* The one domain that may align is the one SPF evaluated, and it is
	 * the one the envelope names. */
	FZ_CHECK(mp_strcasecmp(spf->dmarc_domain, id) == 0,
	    "SPF lends \"%s\" to DMARC, the envelope names \"%s\"", spf->dmarc_domain, id);
	FZ_CHECK(mp_strcasecmp(spf->domain, id) == 0,
	    "SPF evaluated \"%s\", the envelope names \"%s\"", spf->domain, id);
	FZ_CHECK(aligned(id, from, strict), "dmarc=pass through SPF: \"%s\" not aligned with \"%s\"%s",
	    id, from, strict ? " (strict)" : "");
}

/* A trusted A-R header with dkim=pass for a d= aligned with from. */
static bool
trusted_dkim_pass(const char *from, bool strict)
{
	struct mp_authres *ar = xmalloc(sizeof(*ar));
	bool found = false;

	for (size_t i = 0; i < sc.nhdr && !found; i++) {
		const char *why;

		if (mp_strcasecmp(sc.hdr[i].name, "Authentication-Results") != 0 ||
		    !mp_authres_parse(sc.hdr[i].value, sc.hdr[i].value_len, ar, &why) ||
		    strcmp(ar->authserv_id, TRUSTED_ID) != 0)
			continue;
		for (size_t j = 0; j < ar->count && !found; j++) {
			const char *d = mp_authres_prop(&ar->res[j], "header", "d");
			const char *hi = mp_authres_prop(&ar->res[j], "header", "i");
			char dn[MP_DOMAIN_MAX];

			if (strcmp(ar->res[j].method, "dkim") != 0 ||
			    strcmp(ar->res[j].result, "pass") != 0)
				continue;
			if (d == NULL && hi != NULL && strrchr(hi, '@') != NULL)
				d = strrchr(hi, '@') + 1;
			if (d == NULL)
				continue;
			norm(d, strlen(d), dn);
			found = aligned(dn, from, strict);
		}
	}
	free(ar);
	return found;
}

static void
check_authres(const struct mp_verdict *v)
{
	const char *s = mp_verdict_authres(v), *why = NULL, *want;
	struct mp_authres *ar = xmalloc(sizeof(*ar));
	size_t ndmarc = 0;

	for (const char *p = s; *p; p++) {
		FZ_CHECK(*p != '\r', "CR in our A-R: %s", s);
		FZ_CHECK(*p != '\n' || p[1] == '\t', "LF without folding in our A-R: %s", s);
	}
	FZ_CHECK(mp_authres_parse(s, strlen(s), ar, &why), "our A-R does not parse (%s): %s",
	    why ? why : "", s);
	FZ_CHECK(strcmp(ar->authserv_id, OUR_ID) == 0, "authserv-id \"%s\"", ar->authserv_id);
	want = mp_dmarc_result_str(mp_verdict_dmarc_result(v));
	for (size_t i = 0; i < ar->count; i++) {
		if (strcmp(ar->res[i].method, "dmarc") != 0)
			continue;
		ndmarc++;
		FZ_CHECK(strcmp(ar->res[i].result, want) == 0, "dmarc=%s written, verdict %s",
		    ar->res[i].result, want);
	}
	FZ_CHECK(ndmarc == 1, "%zu dmarc results in our A-R: %s", ndmarc, s);
	free(ar);
}

/*
 * The decision under the strictest actions: a refusal carries a reply
 * of its class; a From not judged whole, or a failure under p=reject, is
 * never delivered; a clean DMARC pass is never refused.
 */
static void
check_decision(const struct mp_verdict *v)
{
	const struct mp_result *r = mp_verdict_result(v);
	struct mp_decision d;

	mp_decide(policy, r, &d);
	FZ_CHECK(d.reply[0] != '\0', "no reply for %s", mp_action_str(d.action));
	if (d.action == MP_ACTION_REJECT)
		FZ_CHECK(strncmp(d.reply, "550 5.", 6) == 0, "reject with reply %s", d.reply);
	if (d.action == MP_ACTION_TEMPFAIL)
		FZ_CHECK(strncmp(d.reply, "451 4.", 6) == 0, "tempfail with reply %s", d.reply);
	if (r->problem == MP_PROBLEM_BAD_FROM || r->problem == MP_PROBLEM_MULTI_UNKNOWN)
		FZ_CHECK(d.action == MP_ACTION_REJECT, "unusable From: %s", mp_action_str(d.action));
	if (r->dmarc_result == MP_DMARC_FAIL && r->dmarc.disposition == MP_DMARC_P_REJECT)
		FZ_CHECK(d.action == MP_ACTION_REJECT || d.action == MP_ACTION_TEMPFAIL,
		    "dmarc=fail under p=reject: %s", mp_action_str(d.action));
	if (r->dmarc_result == MP_DMARC_PASS && r->problem == MP_PROBLEM_NONE)
		FZ_CHECK(d.action == MP_ACTION_ACCEPT, "dmarc=pass refused: %s", d.reply);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_message msg = { 0 };
	struct mp_verdict *v;
	const struct mp_dmarc_outcome *d;

	fz_scenario_read(&sc, data, size);
	msg.ip = sc.ip;
	msg.helo = sc.helo;
	msg.mail_from = sc.mail;
	msg.headers = sc.hdr;
	msg.nheaders = sc.nhdr;
	msg.want_posture = size > 0 && data[0] == 'p';
	v = mp_evaluate(ev, &msg);
	FZ_CHECK(v != NULL, "no verdict");
	d = mp_verdict_dmarc(v);
	if (verbose) {
		struct mp_buf b = { 0 };

		mp_verdict_print(v, NULL, &b);
		fprintf(stderr, "%s\n", mp_buf_str(&b));
		mp_buf_free(&b);
	}
	if (mp_verdict_dmarc_result(v) == MP_DMARC_PASS) {
		const char *from = mp_verdict_from_domain(v);

		FZ_CHECK(from[0] != '\0', "dmarc=pass without a From domain");
		FZ_CHECK(d->spf_aligned || d->dkim_aligned, "dmarc=pass, nothing aligned");
		if (d->spf_aligned)
			check_spf_pass(v, from, d->rec.aspf_strict);
		if (d->dkim_aligned)
			FZ_CHECK(trusted_dkim_pass(from, d->rec.adkim_strict),
			    "dmarc=pass through DKIM without a trusted aligned dkim=pass for %s", from);
	}
	check_authres(v);
	check_decision(v);
	mp_verdict_free(&v);
	fz_scenario_free(&sc);
	return 0;
}
