/*
 * fuzz_mtasts: the audit's MTA-STS parsers (selfaudit/mtasts.h): the
 * policy body a web server sends, the _mta-sts TXT record, and mx
 * pattern matching. The input is split at its first NUL: the policy (or
 * TXT record) before it, a host name to match after it. Oracle: the
 * parse keeps its bounds (at most STS_MAX_MX patterns, each terminated,
 * lowercase and printable), its error and note texts are printable,
 * "senders apply it" means no error, and a pattern matches a host only
 * as RFC 8461 4.1 allows (the same name, or one label more for "*.").
 */
#include "config.h"

#include "fuzz.h"
#include "mtasts.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static size_t
labels(const char *s)
{
	size_t n = *s != '\0';

	for (; *s != '\0'; s++)
		n += *s == '.';
	return n;
}

static void
check_policy(const char *body, size_t len, const char *host)
{
	struct audit_sts_policy p;
	bool ok;

	memset(&p, 0, sizeof(p));
	ok = audit_sts_policy_parse(body, len, &p);
	FZ_CHECK(p.nmx <= STS_MAX_MX, "nmx %zu", p.nmx);
	FZ_CHECK(fz_printable(mp_buf_str(&p.errors), p.errors.len), "errors");
	FZ_CHECK(fz_printable(mp_buf_str(&p.notes), p.notes.len), "notes");
	FZ_CHECK(!ok || p.errors.len == 0, "applied with errors");
	FZ_CHECK(!ok || (p.version_ok && p.mode != STS_MODE_MISSING &&
	    p.mode != STS_MODE_INVALID && p.has_max_age), "applied without its fields");
	FZ_CHECK(!p.has_max_age || (p.max_age >= 0 && p.max_age <= STS_MAX_AGE) || !ok,
	    "max_age %ld", p.max_age);
	for (size_t i = 0; i < p.nmx; i++) {
		const char *m = p.mx[i];

		FZ_CHECK(fz_terminated(m, sizeof(p.mx[i])) && fz_printable(m, strlen(m)), "mx %zu", i);
		for (const char *c = m; *c != '\0'; c++)
			FZ_CHECK(*c < 'A' || *c > 'Z', "mx %zu not lowercase", i);
		if (audit_sts_mx_match(m, host))
			FZ_CHECK(strcasecmp(m, host) == 0 || (strncmp(m, "*.", 2) == 0 &&
			    labels(host) == labels(m + 2) + 1), "%s matched %s", m, host);
	}
	audit_sts_policy_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	size_t len = nul != NULL ? (size_t)(nul - in) : size;
	char host[MP_DOMAIN_MAX], id[64], why[256];
	size_t hl = 0;

	if (nul != NULL) {
		hl = size - len - 1;
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, nul + 1, hl);
	}
	host[hl] = '\0';
	if (strlen(host) != hl)
		host[0] = '\0';
	check_policy(in, len, host);
	memset(id, 0, sizeof(id));
	if (audit_sts_txt_parse(in, len, id, sizeof(id), why, sizeof(why)))
		FZ_CHECK(fz_terminated(id, sizeof(id)) && fz_printable(id, strlen(id)), "id");
	else
		FZ_CHECK(fz_terminated(why, sizeof(why)) && fz_printable(why, strlen(why)), "why");
	return 0;
}
