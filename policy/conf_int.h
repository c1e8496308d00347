/*
 * conf's parts: the option table and the checks of its values
 * (conf_table.c), the loader and the getters (conf.c), and the commented
 * sample and the manual page, both generated from the table
 * (conf_doc.c).
 */
#ifndef MP_CONF_INT_H
#define MP_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "util.h"

#define F_LIST 0x01        /* indented continuation lines append to it */

/* A format check of a value: false + the reason in why. */
typedef bool (*conf_check)(const char *v, char *why, size_t whylen);

struct conf_opt {
	const char *section;
	const char *name;
	enum mp_conf_type type;
	const char *def;        /* default, as text: parsed like the file */
	long min, max;          /* MP_CONF_INT */
	const char *words;      /* MP_CONF_ENUM: "a|b|c" */
	unsigned flags;
	conf_check check;       /* strings and secret files, or NULL */
	const char *help;
};

/* Every option, grouped by section in the order the sample shows them. */
extern const struct conf_opt conf_options[];
extern const size_t conf_noptions;

/* Writes the reason into why and returns false. */
bool conf_whyf(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Text from the file, made safe to quote back in an error message. */
const char *conf_quote(struct mp_buf *b, const char *v);
/* An enum's "a|b|c" as "a, b, c". */
void conf_words_list(struct mp_buf *b, const char *words);

#endif
