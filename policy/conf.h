/*
 * conf: mailposture.conf, one INI file read with inih, checked against a
 * typed option table (name, type, default, bounds: conf_table.c, the only
 * place they are written). Named "conf" rather than "config" so that it
 * never collides with autoconf's config.h.
 *
 * A struct mp_conf is immutable once loaded and reference-counted: the
 * milter swaps in a new one on SIGHUP while messages in flight keep the
 * one they started with.
 */
#ifndef MP_CONF_H
#define MP_CONF_H

#include <stdbool.h>
#include <stdio.h>

#define MP_CONF_DEFAULT_PATH "/etc/mailposture/mailposture.conf"

struct mp_conf;

enum mp_conf_type {
	MP_CONF_STRING,
	MP_CONF_INT,        /* bounded by min and max */
	MP_CONF_BOOL,       /* yes/no, true/false, on/off, 1/0 */
	MP_CONF_ENUM,       /* one of a '|'-separated list of words */
	MP_CONF_SECRET_FILE /* a path whose file must not be group/other readable */
};

/* The defaults, as if an empty file had been read. Never NULL. */
struct mp_conf *mp_conf_new_defaults(void);

/*
 * Reads path over the defaults. On error returns NULL and writes
 * "FILE:LINE: reason" into err. Unknown sections or options, values out
 * of bounds and secret files readable by group or others are errors.
 * So is an option set twice in the file (no "last one wins"), a line
 * longer than 198 characters (inih would split it), a NUL byte, and an
 * indented line after an option that is not a list (inih would append
 * it to that option's value). path NULL: MP_CONF_DEFAULT_PATH.
 */
struct mp_conf *mp_conf_load(const char *path, char *err, size_t errlen);

/*
 * For the command-line tools: path when given, else the default file
 * when it exists, else the defaults. NULL + "FILE:LINE: reason" on error.
 */
struct mp_conf *mp_conf_load_or_defaults(const char *path, char *err, size_t errlen);

/* Sets one option, as from a command-line override; false + err on error.
 * The value replaces any earlier one. Only on a configuration that is
 * not shared yet (one reference): on a shared one it aborts. */
bool mp_conf_set(struct mp_conf *c, const char *section, const char *name,
    const char *value, char *err, size_t errlen);

struct mp_conf *mp_conf_ref(struct mp_conf *c);
/* Drops one reference and sets *cp to NULL; frees on the last one. */
void mp_conf_unref(struct mp_conf **cp);

/*
 * Typed getters. Asking for an option that is not in the table, or with
 * the wrong type, is a programming error and aborts.
 * MP_CONF_ENUM options are read with mp_conf_str.
 */
const char *mp_conf_str(const struct mp_conf *c, const char *section, const char *name);
long mp_conf_int(const struct mp_conf *c, const char *section, const char *name);
bool mp_conf_bool(const struct mp_conf *c, const char *section, const char *name);

/* Writes every option with its type, default, bounds and help text:
 * format "ini" (the commented sample) or "man" (roff for mailposture.conf(5)). */
void mp_conf_describe(FILE *out, const char *format);

#endif
