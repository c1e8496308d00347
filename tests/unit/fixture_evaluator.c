#include "config.h"

#include "check_main.h"
#include "fixture_evaluator.h"

/* The policy of the last evaluator made: each Check test runs in its
 * own process, so one at a time is enough. */
static struct mp_policy *policy;
static struct mp_decision decision;

struct mp_evaluator *
fixture_evaluator(const char *resolver, const char *const *settings)
{
	struct mp_conf *conf = mp_conf_new_defaults();
	struct mp_evaluator *ev;
	char err[512];

	ck_assert_msg(resolver != NULL, "test resolver not set: run under tests/harness/with-servers");
	ck_assert_msg(mp_conf_set(conf, "dns", "resolver", resolver, err, sizeof(err)), "%s", err);
	ck_assert(mp_conf_set(conf, "dns", "timeout", "300", err, sizeof(err)));
	ck_assert(mp_conf_set(conf, "policy", "authserv_id", "mx.example.org", err, sizeof(err)));
	for (size_t i = 0; settings && settings[i]; i += 3)
		ck_assert_msg(mp_conf_set(conf, settings[i], settings[i + 1], settings[i + 2], err,
		    sizeof(err)), "%s", err);
	ev = mp_evaluator_new(conf, err, sizeof(err));
	mp_policy_free(&policy);
	policy = mp_policy_new(conf);
	mp_conf_unref(&conf);
	ck_assert_msg(ev != NULL, "%s", err);
	return ev;
}

enum mp_action
fixture_action(const struct mp_verdict *v, const char **reply_r)
{
	ck_assert_msg(policy != NULL, "fixture_action before fixture_evaluator");
	mp_decide(policy, mp_verdict_result(v), &decision);
	*reply_r = decision.reply;
	return decision.action;
}
