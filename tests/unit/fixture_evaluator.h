/*
 * An evaluator for the unit tests that run the whole evaluation against
 * the test NSD (test_verdict, test_spoof).
 */
#ifndef MP_FIXTURE_EVALUATOR_H
#define MP_FIXTURE_EVALUATOR_H

#include "verdict.h"

/*
 * Resolver at resolver (asserted set), [dns] timeout 300 ms, authserv-id
 * mx.example.org, then each (section, name, value) triple of settings
 * (NULL-terminated, may be NULL). Fails the test on any error.
 */
struct mp_evaluator *fixture_evaluator(const char *resolver, const char *const *settings);

#endif
