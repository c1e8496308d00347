/*
 * log: one logging interface for every program. Daemons log to syslog,
 * command-line tools to stderr. Messages that contain peer text must have
 * passed through mp_printable() first.
 */
#ifndef MP_LOG_H
#define MP_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* ident: program name; to_stderr: log to stderr instead of syslog;
 * facility: a LOG_* facility (used for syslog only). */
void mp_log_open(const char *ident, bool to_stderr, int facility);
/* Messages above this priority (LOG_DEBUG > LOG_INFO > ...) are dropped. */
void mp_log_set_level(int level);
int mp_log_level_from_name(const char *name);      /* -1 if unknown */
int mp_log_facility_from_name(const char *name);   /* -1 if unknown */
void mp_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mp_log_close(void);

#endif
