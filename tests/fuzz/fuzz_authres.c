/*
 * fuzz_authres: the Authentication-Results parser and writer
 * (policy/authres.h). The input is parsed as a header value; then its
 * first three NUL-separated pieces go through the writer as a reason,
 * a header.d and a smtp.mailfrom, and what we wrote must re-parse to
 * exactly one result with the same method, result and properties, and
 * hold no CR or LF: nothing a peer sends may fold or end our header.
 */
#include "config.h"

#include <stdlib.h>

#include "authres.h"
#include "fuzz.h"

#define OUR_ID "mx.example.org"
#define PIECE_MAX 200   /* the parser caps a value at 255 bytes */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
check_parsed(const struct mp_authres *ar)
{
	FZ_CHECK(ar->count <= MP_AUTHRES_MAX_RESULTS, "count %zu", ar->count);
	FZ_CHECK(fz_terminated(ar->authserv_id, sizeof(ar->authserv_id)), "id");
	for (size_t i = 0; i < ar->count; i++) {
		const struct mp_authres_result *r = &ar->res[i];

		FZ_CHECK(r->nprops <= MP_AUTHRES_MAX_PROPS, "nprops %zu", r->nprops);
		FZ_CHECK(fz_terminated(r->method, sizeof(r->method)) &&
		    fz_terminated(r->result, sizeof(r->result)) &&
		    fz_terminated(r->reason, sizeof(r->reason)), "fields");
	}
}

/* The next NUL-separated piece of the input, at most PIECE_MAX bytes. */
static char *
piece(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
	size_t n = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
	char *s = xstrndup((const char *)*p, n > PIECE_MAX ? PIECE_MAX : n);

	*p = nul ? nul + 1 : end;
	return s;
}

static void
writer(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *reason = piece(&p, end), *d = piece(&p, end), *mf = piece(&p, end);
	struct mp_buf b = { 0 };
	struct mp_authres *ar = malloc(sizeof(*ar));
	const char *why = NULL, *out;

	mp_buf_puts(&b, OUR_ID "; dkim=pass reason=");
	mp_authres_put_value(&b, reason);
	mp_buf_puts(&b, " header.d=");
	mp_authres_put_pvalue(&b, d);
	mp_buf_puts(&b, " smtp.mailfrom=");
	mp_authres_put_pvalue(&b, mf);
	out = mp_buf_str(&b);
	FZ_CHECK(strchr(out, '\r') == NULL && strchr(out, '\n') == NULL, "CR/LF written: %s", out);
	FZ_CHECK(strlen(out) == b.len, "NUL written");
	FZ_CHECK(ar != NULL && mp_authres_parse(out, b.len, ar, &why),
	    "our header does not parse (%s): %s", why ? why : "", out);
	FZ_CHECK(strcmp(ar->authserv_id, OUR_ID) == 0 && ar->count == 1, "id/count: %s", out);
	FZ_CHECK(strcmp(ar->res[0].method, "dkim") == 0 && strcmp(ar->res[0].result, "pass") == 0,
	    "method/result: %s", out);
	FZ_CHECK(ar->res[0].nprops == 2, "%zu properties: %s", ar->res[0].nprops, out);
	FZ_CHECK(mp_authres_prop(&ar->res[0], "header", "d") != NULL &&
	    mp_authres_prop(&ar->res[0], "smtp", "mailfrom") != NULL, "properties: %s", out);
	/* A printable value without specials comes back unchanged. */
	if (d[0] != '\0' && fz_printable(d, strlen(d)) && strpbrk(d, "\"\\()") == NULL)
		FZ_CHECK(strcmp(mp_authres_prop(&ar->res[0], "header", "d"), d) == 0,
		    "header.d \"%s\" came back as \"%s\"", d,
		    mp_authres_prop(&ar->res[0], "header", "d"));
	mp_buf_free(&b);
	free(ar);
	free(reason);
	free(d);
	free(mf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_authres *ar = malloc(sizeof(*ar));
	const char *why = NULL;
	char id[256];
	bool ok;

	if (ar == NULL)
		return 0;
	ok = mp_authres_parse((const char *)data, size, ar, &why);
	if (ok)
		check_parsed(ar);
	else
		FZ_CHECK(ar->count == 0 && why != NULL, "failed parse: count %zu", ar->count);
	/*
	 * The deletion rule reads the id leniently: it must find it whenever
	 * the full parse did, and find the same one, or a forged header that
	 * parses could escape deletion.
	 */
	if (mp_authres_servid((const char *)data, size, id, sizeof(id))) {
		FZ_CHECK(fz_terminated(id, sizeof(id)), "servid");
		if (ok)
			FZ_CHECK(strcmp(id, ar->authserv_id) == 0, "servid \"%s\", parse \"%s\"",
			    id, ar->authserv_id);
	} else {
		FZ_CHECK(!ok, "full parse found id \"%s\", servid did not", ar->authserv_id);
	}
	free(ar);
	writer(data, size);
	return 0;
}
