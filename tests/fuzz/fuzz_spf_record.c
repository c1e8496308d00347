/*
 * fuzz_spf_record: mp_spf_record_valid, then the same text as the SPF
 * record of example.com evaluated by check_host over the fake DNS, so
 * that every record the checker lets through also goes through macro
 * expansion (there is no public entry point for the expansion alone:
 * it lives inside spf.c, under libspf2). Oracles: the reason is
 * printable; a "v=spf1" record the checker refuses never passes
 * check_host; the outcome's strings are terminated and printable.
 */
#include "config.h"

#include <stdlib.h>
#include <strings.h>

#include "fakedns.h"
#include "fuzz.h"
#include "spf.h"

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

static int
starts_spf1(const char *s, size_t n)
{
	return n >= 6 && strncasecmp(s, "v=spf1", 6) == 0 && (n == 6 || s[6] == ' ');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char zone[] =
	    "ip 192.0.2.1\nhelo mx.example.org\nmail user@example.com\n"
	    "mx.example.org A 192.0.2.1\nexample.net TXT v=spf1 ip4:192.0.2.0/24 -all\n"
	    "example.net A 192.0.2.1\n1.2.0.192.in-addr.arpa PTR mx.example.org\n";
	struct mp_spf_outcome out;
	enum mp_spf_result r;
	char why[256];
	bool valid;

	if (size > MP_DNS_MAX_TXT || memchr(data, '\n', size) != NULL)
		return 0;
	memset(why, 'x', sizeof(why));
	valid = mp_spf_record_valid((const char *)data, size, why, sizeof(why));
	if (!valid)
		FZ_CHECK(fz_terminated(why, sizeof(why)) && fz_printable(why, strlen(why)),
		    "reason");

	fz_scenario_read(&sc, (const uint8_t *)zone, sizeof(zone) - 1);
	sc.rr[sc.nrr].name = xstrdup("example.com");
	sc.rr[sc.nrr].type = MP_DNS_TXT;
	sc.rr[sc.nrr].data = fz_strndup(data, size);
	sc.rr[sc.nrr].data_len = size;
	sc.nrr++;
	r = mp_spf_check_mailfrom(spf, NULL, sc.ip, sc.helo, sc.mail, &out);
	FZ_CHECK(r >= MP_SPF_NONE && r <= MP_SPF_PERMERROR, "result %d", (int)r);
	FZ_CHECK(r == out.result, "returned %d, outcome %d", (int)r, (int)out.result);
	FZ_CHECK(fz_terminated(out.reason, sizeof(out.reason)) &&
	    fz_printable(out.reason, strlen(out.reason)), "reason");
	FZ_CHECK(fz_terminated(out.explanation, sizeof(out.explanation)) &&
	    fz_printable(out.explanation, strlen(out.explanation)), "explanation");
	if (!valid && starts_spf1((const char *)data, size) && memchr(data, '\0', size) == NULL)
		FZ_CHECK(r != MP_SPF_PASS, "refused record passed: %s", why);
	fz_scenario_free(&sc);
	return 0;
}
