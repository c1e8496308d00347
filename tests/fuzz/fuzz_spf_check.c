/*
 * fuzz_spf_check: check_host() for MAIL FROM and HELO
 * (mp_spf_check_mailfrom, mp_spf_check_helo) over the fake DNS, with the
 * message and the zone read from the input (fakedns.h). Oracles:
 * - A pass is for the identity the envelope names and nothing else:
 *   the domain after the last '@' of MAIL FROM, the HELO name for the
 *   null sender; a non-empty MAIL FROM without '@' never passes (issue
 *   11, first way through).
 * - The lookups of one check are bounded (RFC 7208 4.6.4: 10 terms, 10
 *   names per mx/ptr, 2 void lookups), however the zone answers.
 * - The outcome's strings are terminated and printable.
 */
#include "config.h"

#include <stdlib.h>

#include "fakedns.h"
#include "fuzz.h"
#include "spf.h"

/* 10 terms x (1 + 10 names) plus the record, redirect and exp= fetches. */
#define MAX_QUERIES 150

static struct mp_dns *dns;
static struct mp_spf *spf;
static struct fz_scenario sc;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dns = fz_dns_open(&sc);
	spf = mp_spf_new(dns);
	return 0;
}

/* The identity domain the envelope names, lowercased without a trailing
 * dot; "" when MAIL FROM names none. Computed here, apart from spf.c. */
static void
envelope_domain(const char *mail, const char *helo, char out[MP_DOMAIN_MAX])
{
	const char *at = strrchr(mail, '@'), *d;
	size_t n;

	d = mail[0] == '\0' ? helo : at != NULL ? at + 1 : "";
	n = strlen(d);
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n >= MP_DOMAIN_MAX)
		n = 0;
	memcpy(out, d, n);
	out[n] = '\0';
	mp_ascii_lower(out);
}

static void
check_outcome(const struct mp_spf_outcome *o, enum mp_spf_result r)
{
	FZ_CHECK(r >= MP_SPF_NONE && r <= MP_SPF_PERMERROR, "result %d", (int)r);
	FZ_CHECK(r == o->result, "returned %d, outcome %d", (int)r, (int)o->result);
	FZ_CHECK(fz_terminated(o->domain, sizeof(o->domain)) &&
	    fz_terminated(o->identity, sizeof(o->identity)), "domain/identity");
	FZ_CHECK(fz_terminated(o->reason, sizeof(o->reason)) &&
	    fz_printable(o->reason, strlen(o->reason)), "reason");
	FZ_CHECK(fz_terminated(o->explanation, sizeof(o->explanation)) &&
	    fz_printable(o->explanation, strlen(o->explanation)), "explanation");
	FZ_CHECK(sc.queries <= MAX_QUERIES, "%lu queries", sc.queries);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_spf_outcome out;
	enum mp_spf_result r;
	char want[MP_DOMAIN_MAX];

	fz_scenario_read(&sc, data, size);
	r = mp_spf_check_mailfrom(spf, NULL, sc.ip, sc.helo, sc.mail, &out);
	check_outcome(&out, r);
	if (r == MP_SPF_PASS) {
		envelope_domain(sc.mail, sc.helo, want);
		FZ_CHECK(want[0] != '\0', "MAIL FROM \"%s\" names no domain, SPF passed for \"%s\"",
		    sc.mail, out.domain);
		FZ_CHECK(mp_strcasecmp(out.domain, want) == 0,
		    "SPF passed for \"%s\", the envelope names \"%s\"", out.domain, want);
	}
	sc.queries = 0;
	r = mp_spf_check_helo(spf, NULL, sc.ip, sc.helo, &out);
	check_outcome(&out, r);
	if (r == MP_SPF_PASS) {
		envelope_domain("", sc.helo, want);
		FZ_CHECK(mp_strcasecmp(out.domain, want) == 0,
		    "HELO check passed for \"%s\", HELO is \"%s\"", out.domain, want);
	}
	fz_scenario_free(&sc);
	return 0;
}
