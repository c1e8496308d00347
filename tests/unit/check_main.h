/*
 * Every unit test file defines make_suite(); check_main.c runs it with
 * TAP output on stdout so that each Check test case is counted by the
 * automake TAP driver.
 */
#ifndef MP_CHECK_MAIN_H
#define MP_CHECK_MAIN_H

#include <check.h>

Suite *make_suite(void);

/* Path of a file below tests/ in the source tree. */
const char *test_path(const char *rel);

/* Value of an environment variable set by the harness, or NULL. */
const char *test_env(const char *name);

#endif
