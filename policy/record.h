/*
 * record: the store record of one message, built from the facts of its
 * evaluation and the action the milter actually applied. It sits above
 * both: the store knows nothing of the evaluator, the evaluator nothing
 * of the store.
 */
#ifndef MP_RECORD_H
#define MP_RECORD_H

#include <time.h>

#include "decide.h"
#include "store.h"
#include "verdict.h"

/*
 * Fills r. msg gives the client address, HELO and MAIL FROM (NULL: none),
 * res the rest (NULL: the record says only who sent). host and queue_id
 * identify the message: queue_id "" (the MTA gave none) gets a unique
 * made-up id, so two messages never share a key, but a retry is then
 * not recognised.
 */
void mp_record_build(struct mp_store_record *r, const struct mp_result *res,
    const struct mp_message *msg, enum mp_action applied, const char *host,
    const char *queue_id, time_t now);

#endif
