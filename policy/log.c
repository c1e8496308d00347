#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "log.h"

static bool log_stderr = true;
/* Set by the reload thread, read by every thread. */
static _Atomic int log_level = LOG_INFO;
static const char *log_ident = "mailposture";

void
mp_log_open(const char *ident, bool to_stderr, int facility)
{
	log_ident = ident;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

void
mp_log_set_level(int level)
{
	log_level = level;
}

static const struct {
	const char *name;
	int value;
} levels[] = {
	{ "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
}, facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int
mp_log_level_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(levels[i].name, name) == 0)
			return levels[i].value;
	return -1;
}

int
mp_log_facility_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(facilities[i].name, name) == 0)
			return facilities[i].value;
	return -1;
}

void
mp_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	if (log_stderr) {
		char line[2048];

		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s: %s\n", log_ident, line);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

void
mp_log_close(void)
{
	if (!log_stderr)
		closelog();
}
