/*
 * host_int: what host.c (postconf) hands to host_milter.c (the milter
 * wiring).
 */
#ifndef MP_AUDIT_HOST_INT_H
#define MP_AUDIT_HOST_INT_H

#include "host.h"

/* Judges CHK_MILTER from a postconf that was read (pc->ok). */
void host_judge_milter(struct audit_report *r, const struct audit_postconf *pc,
    const struct mp_conf *conf, unsigned timeout_ms);

#endif
