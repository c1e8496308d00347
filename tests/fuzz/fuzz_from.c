/*
 * fuzz_from: the RFC 5322 From parser (policy/from.h). Oracle: on
 * success every domain is already normalised (normalising it again
 * changes nothing) and the local parts are terminated within their
 * field; on failure the count is 0 and a reason is given.
 */
#include "config.h"

#include <stdlib.h>

#include "from.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_from *f = malloc(sizeof(*f));
	const char *why = NULL, *ds[MP_FROM_MAX_ADDRS];
	char norm[MP_DOMAIN_MAX];
	size_t nd;

	if (f == NULL)
		return 0;
	if (!mp_from_parse((const char *)data, size, f, &why)) {
		FZ_CHECK(f->count == 0, "count %zu after an error", f->count);
		FZ_CHECK(why != NULL, "no reason");
		free(f);
		return 0;
	}
	FZ_CHECK(f->count >= 1 && f->count <= MP_FROM_MAX_ADDRS, "count %zu", f->count);
	for (size_t i = 0; i < f->count; i++) {
		const struct mp_mailbox *m = &f->addr[i];

		FZ_CHECK(fz_terminated(m->local, sizeof(m->local)), "local part not terminated");
		FZ_CHECK(fz_terminated(m->domain, sizeof(m->domain)), "domain not terminated");
		FZ_CHECK(mp_domain_normalize(m->domain, strlen(m->domain), norm, NULL),
		    "domain \"%s\" does not normalise", m->domain);
		FZ_CHECK(strcmp(norm, m->domain) == 0, "\"%s\" normalises to \"%s\"",
		    m->domain, norm);
	}
	nd = mp_from_domains(f, ds);
	FZ_CHECK(nd >= 1 && nd <= f->count, "%zu domains of %zu addresses", nd, f->count);
	free(f);
	return 0;
}
