#include "config.h"

#include "check_main.h"
#include "fixture_evaluator.h"

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
	mp_conf_unref(&conf);
	ck_assert_msg(ev != NULL, "%s", err);
	return ev;
}
