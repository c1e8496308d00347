/* Placeholder: no test cases yet (TAP "1..0" is reported as SKIP). */
#include "config.h"

#include "check_main.h"

Suite *
make_suite(void)
{
	return suite_create("dns");
}
