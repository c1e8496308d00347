#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "check_main.h"

const char *
test_path(const char *rel)
{
	static char buf[4096];
	const char *top = getenv("TEST_SRCDIR");

	snprintf(buf, sizeof(buf), "%s/%s", top ? top : TEST_SRCDIR, rel);
	return buf;
}

const char *
test_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int
main(void)
{
	SRunner *sr = srunner_create(make_suite());
	int failed;

	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
