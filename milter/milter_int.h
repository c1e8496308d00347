/*
 * milter_int: what the two halves of the libmilter callbacks share:
 * milter.c (up to the end of the body) and milter_eom.c (end of
 * message). Nothing else includes it.
 */
#ifndef MP_MILTER_INT_H
#define MP_MILTER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <libmilter/mfapi.h>

#include "ctx.h"

/* A macro value made printable and bounded, or "-" when absent. */
void milter_symval(SMFICTX *ctx, const char *name, char *out, size_t outlen);

/* Refuses a message for one of its identities (m->refusal), at MAIL
 * (at_mail) or at end of message: logs it, sets the reply, and returns
 * SMFIS_REJECT. */
sfsistat milter_refuse(SMFICTX *ctx, const struct conn *c, const struct msg *m,
    const char *qid, bool at_mail);

/* Nothing to evaluate under: tempfail, never accept unchecked. */
sfsistat milter_no_engine(SMFICTX *ctx, const char *qid);

/* The end of message callback (milter_eom.c). */
sfsistat milter_eom(SMFICTX *ctx);

#endif
