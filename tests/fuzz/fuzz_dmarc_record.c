/*
 * fuzz_dmarc_record: mp_dmarc_record_parse (policy/dmarc.h). Oracle:
 * a record that parses has its policies and pct in range and its
 * printable fields printable; a failure gives a printable reason.
 */
#include "config.h"

#include "dmarc.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int
policy_ok(enum mp_dmarc_policy p)
{
	return p >= MP_DMARC_P_UNSET && p <= MP_DMARC_P_REJECT;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_dmarc_record rec;
	char why[256];

	memset(why, 'x', sizeof(why));
	if (!mp_dmarc_record_parse((const char *)data, size, &rec, why, sizeof(why))) {
		FZ_CHECK(fz_terminated(why, sizeof(why)), "reason not terminated");
		FZ_CHECK(fz_printable(why, strlen(why)), "reason not printable");
		return 0;
	}
	/* Only a record that starts with v=DMARC1 can be valid. */
	FZ_CHECK(mp_dmarc_is_record((const char *)data, size), "valid but not a record");
	FZ_CHECK(policy_ok(rec.p) && rec.p != MP_DMARC_P_UNSET, "p %d", (int)rec.p);
	FZ_CHECK(policy_ok(rec.sp) && policy_ok(rec.np), "sp %d np %d", (int)rec.sp, (int)rec.np);
	FZ_CHECK(rec.pct >= 0 && rec.pct <= 100, "pct %d", rec.pct);
	FZ_CHECK(fz_terminated(rec.rua, sizeof(rec.rua)) && fz_printable(rec.rua, strlen(rec.rua)),
	    "rua");
	FZ_CHECK(fz_terminated(rec.ruf, sizeof(rec.ruf)) && fz_printable(rec.ruf, strlen(rec.ruf)),
	    "ruf");
	FZ_CHECK(fz_terminated(rec.warning, sizeof(rec.warning)) &&
	    fz_printable(rec.warning, strlen(rec.warning)), "warning");
	FZ_CHECK(rec.rua_count >= 0 && rec.ruf_count >= 0, "uri counts");
	return 0;
}
