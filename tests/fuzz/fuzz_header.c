/*
 * fuzz_header: the milter's header collector, msg_add_header
 * (milter/ctx.c), built without libmilter: the harness supplies the
 * engine fields the collector reads and stubs for the two engine calls
 * ctx.c makes. Input: one header field per line, "Name: value"; the
 * first byte picks max_headers and max_header_bytes.
 *
 * Oracle (issue 11, "no cap that fails open"): every A-R field carrying
 * our authserv-id is recorded for deletion, at its position, or the
 * overflow is flagged; none is ever handed to the evaluator; the kept
 * fields stay within the caps; every field is counted.
 */
#include "config.h"

#include <stdlib.h>

#include "authres.h"
#include "ctx.h"
#include "fakedns.h"
#include "fuzz.h"

#define OUR_ID "mx.example.org"

/* ctx.c's calls into engine.c: msg_start is never called here. */
struct mp_engine *
mp_engine_acquire(void)
{
	return NULL;
}

void
mp_engine_release_async(struct mp_engine **ep)
{
	*ep = NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static bool
ours(const char *v)
{
	char id[256];

	return mp_authres_servid(v, strlen(v), id, sizeof(id)) && mp_strcasecmp(id, OUR_ID) == 0;
}

/* msg_each_forged gives the forged positions highest first, each once. */
struct forged_walk {
	const unsigned *pos;
	size_t n, i;
};

static bool
walk(unsigned pos, void *arg)
{
	struct forged_walk *w = arg;

	FZ_CHECK(w->i < w->n && w->pos[w->n - 1 - w->i] == pos, "forged %zu recorded at %u",
	    w->i, pos);
	w->i++;
	return true;
}

static void
check(const struct msg *m, const struct mp_engine *e, size_t nfields, const unsigned *forged_pos,
    size_t nforged)
{
	FZ_CHECK(m->nseen == nfields, "seen %zu of %zu", m->nseen, nfields);
	FZ_CHECK(m->nar_kept <= e->max_headers && m->kept_bytes <= e->max_header_bytes,
	    "kept %zu fields, %zu bytes", m->nar_kept, m->kept_bytes);
	if (nforged > m->nforged) {
		FZ_CHECK(m->forged_overflow, "%zu forged, %zu recorded, no overflow",
		    nforged, m->nforged);
	} else {
		struct forged_walk w = { forged_pos, nforged, 0 };

		FZ_CHECK(m->nforged == nforged && !m->forged_overflow, "%zu forged, %zu recorded",
		    nforged, m->nforged);
		(void)msg_each_forged(m, walk, &w);
		FZ_CHECK(w.i == nforged, "walked %zu of %zu forged", w.i, nforged);
	}
	for (size_t i = 0; i < m->nhdr; i++) {
		FZ_CHECK(strlen(m->hdr[i].value) == m->hdr[i].value_len, "value_len");
		if (mp_strcasecmp(m->hdr[i].name, "Authentication-Results") == 0)
			FZ_CHECK(!ours(m->hdr[i].value), "forged A-R handed over: %s",
			    m->hdr[i].value);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_engine e = { 0 };
	struct msg *m;
	char *text, *line, *save = NULL;
	unsigned *pos, ar = 0;
	size_t nfields = 0, nforged = 0;

	if (size < 1)
		return 0;
	e.authserv_id = OUR_ID;
	e.max_headers = 4 + data[0] % 8;
	e.max_header_bytes = 256 + (size_t)(data[0] >> 3) * 64;
	m = xcalloc(1, sizeof(*m));
	m->eng = &e;
	text = fz_strndup(data + 1, size - 1);
	pos = xcalloc(size + 1, sizeof(*pos));
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		const char *value;

		if (colon == NULL)
			continue;
		*colon = '\0';
		value = colon[1] == ' ' ? colon + 2 : colon + 1;
		if (mp_strcasecmp(line, "Authentication-Results") == 0) {
			ar++;
			if (ours(value))
				pos[nforged++] = ar;
		}
		msg_add_header(m, line, value);
		nfields++;
	}
	check(m, &e, nfields, pos, nforged);
	msg_free(&m);
	free(pos);
	free(text);
	return 0;
}
