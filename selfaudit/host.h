/*
 * host: the checks that only make sense on the mail host itself: the
 * Postfix settings behind the probes (read with postconf), and a
 * preflight of the deployment (milter socket handshake, Public Suffix
 * List, Redis). host.c reads and judges postconf and the preflight,
 * host_milter.c the milter wiring.
 */
#ifndef MP_AUDIT_HOST_H
#define MP_AUDIT_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "conf.h"

#define AUDIT_PC_MAX 24

struct audit_postconf {
	bool ok;                    /* postconf ran and answered every name */
	char err[256];
	size_t n;
	const char *name[AUDIT_PC_MAX];
	char *value[AUDIT_PC_MAX];
};

/*
 * Runs "postconf [-c dir] -h NAMES..." (no shell; bounded output and
 * time) and keeps the values. dir may be NULL. False + pc->err when
 * postconf is missing or fails.
 */
bool audit_postconf_read(const char *dir, struct audit_postconf *pc);
/* The value of a parameter read above, or NULL. */
const char *audit_postconf_get(const struct audit_postconf *pc, const char *name);
void audit_postconf_free(struct audit_postconf *pc);

/*
 * Splits a Postfix smtpd_milters value into its socket specs
 * ("unix:/path", "inet:host:port"), dropping the { ..., options } form's
 * options. Returns how many were written to out.
 */
size_t audit_milter_specs(const char *value, char out[][256], size_t max);

/*
 * Connects to a milter socket spec and does the option negotiation
 * (SMFIC_OPTNEG, then SMFIC_QUIT). queue_dir resolves relative unix
 * paths (Postfix resolves them under its queue directory). True when the
 * milter answered with SMFIC_OPTNEG; what gets a printable result.
 */
bool audit_milter_handshake(const char *spec, const char *queue_dir, unsigned timeout_ms,
    char *what, size_t whatlen);

/* Judges CHK_POSTCONF and CHK_MILTER (pc may have ok = false). */
void audit_host_judge_postfix(struct audit_report *r, const struct audit_postconf *pc,
    const struct mp_conf *conf, unsigned timeout_ms);
/* Judges CHK_PSL and CHK_REDIS. */
void audit_host_judge_preflight(struct audit_report *r, const struct mp_conf *conf);

#endif
