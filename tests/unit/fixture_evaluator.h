/*
 * An evaluator for the unit tests that run the whole evaluation against
 * the test NSD (test_verdict, test_spoof).
 */
#ifndef MP_FIXTURE_EVALUATOR_H
#define MP_FIXTURE_EVALUATOR_H

#include "decide.h"
#include "verdict.h"

/*
 * Resolver at resolver (asserted set), [dns] timeout 300 ms, authserv-id
 * mx.example.org, then each (section, name, value) triple of settings
 * (NULL-terminated, may be NULL). Fails the test on any error.
 */
struct mp_evaluator *fixture_evaluator(const char *resolver, const char *const *settings);

/*
 * What the milter would do with v under the [milter] actions of the
 * settings the last fixture_evaluator() was given. *reply_r is the reply
 * or reason, valid until the next call.
 */
enum mp_action fixture_action(const struct mp_verdict *v, const char **reply_r);

#endif
