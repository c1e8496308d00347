/*
 * conf: mailposture.conf over inih, checked against one typed table
 * (conf_table.c). This part reads a file, or one override, into values
 * and answers the getters.
 *
 * Rules of the file, beyond what inih does by itself (the Debian build
 * of inih 55: multi-line values on, inline comments on with ';' only,
 * lines of at most 200 bytes read into a stack buffer):
 * - A line longer than inih's buffer is an error. inih would otherwise
 *   cut it silently and parse the rest as a line of its own.
 * - A NUL byte is an error.
 * - An option set twice in the file is an error, not "last one wins":
 *   two values for one option in a security policy are a mistake to
 *   show, not to guess at. mp_conf_set() (command-line overrides) does
 *   replace the value.
 * - An indented line continues the previous option (inih's multi-line
 *   values); that is allowed only for the list options, whose parts are
 *   joined with a space. Elsewhere it is an error, because an indented
 *   "name = value" would otherwise become part of the previous value.
 * - Section and option names are case-sensitive; enum and bool words
 *   are not.
 * - '#' starts a comment only at the start of a line; a " #" inside a
 *   value is refused rather than kept as part of it.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "conf_int.h"
#include "log.h"
#include "util.h"

#define VALUE_MAX 1024     /* longest value, list continuations included */
#define WHY_MAX 512

struct conf_val {
	char *s;        /* MP_CONF_STRING, MP_CONF_ENUM, MP_CONF_SECRET_FILE */
	long n;         /* MP_CONF_INT */
	bool b;         /* MP_CONF_BOOL */
};

struct mp_conf {
	unsigned refs;  /* __atomic: worker threads drop theirs concurrently */
	struct conf_val v[];    /* one per conf_options[] entry */
};

bool
conf_whyf(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return false;
}

const char *
conf_quote(struct mp_buf *b, const char *v)
{
	mp_buf_reset(b);
	mp_printable(b, v, strlen(v), MP_SHOW_SETTING);
	return mp_buf_str(b);
}

void
conf_words_list(struct mp_buf *b, const char *words)
{
	for (const char *p = words; *p != '\0'; p++) {
		if (*p == '|')
			mp_buf_puts(b, ", ");
		else
			mp_buf_putc(b, *p);
	}
}

/* ---- values ----------------------------------------------------------- */

static const struct conf_opt *
find_opt(const char *section, const char *name, size_t *idx_r)
{
	for (size_t i = 0; i < conf_noptions; i++)
		if (strcmp(conf_options[i].section, section) == 0 &&
		    strcmp(conf_options[i].name, name) == 0) {
			if (idx_r != NULL)
				*idx_r = i;
			return &conf_options[i];
		}
	return NULL;
}

/* A section exists when the table has an option in it. */
static bool
known_section(const char *section)
{
	for (size_t i = 0; i < conf_noptions; i++)
		if (strcmp(conf_options[i].section, section) == 0)
			return true;
	return false;
}

/* Returns the enum word equal to v, as a new string, or NULL. */
static char *
enum_word(const char *words, const char *v)
{
	const char *p = words;

	for (;;) {
		size_t n = strcspn(p, "|");

		if (n > 0 && strlen(v) == n && mp_strncasecmp(p, v, n) == 0)
			return xstrndup(p, n);
		if (p[n] == '\0')
			return NULL;
		p += n + 1;
	}
}

static bool
parse_bool(const char *v, bool *b_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < MP_ARRAY_SIZE(yes); i++) {
		if (mp_strcasecmp(v, yes[i]) == 0) {
			*b_r = true;
			return true;
		}
		if (mp_strcasecmp(v, no[i]) == 0) {
			*b_r = false;
			return true;
		}
	}
	return false;
}

static bool
has_space(const char *s)
{
	return strpbrk(s, " \t") != NULL;
}

static bool
plain_text(const char *v, char *why, size_t whylen)
{
	if (strlen(v) > VALUE_MAX)
		return conf_whyf(why, whylen, "value longer than %d bytes", VALUE_MAX);
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return conf_whyf(why, whylen, "control character in the value");
		if (c == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t'))
			return conf_whyf(why, whylen,
			    "'#' in the value: comments after a value start with ';'");
	}
	return true;
}

static bool
parse_int(const struct conf_opt *o, const char *v, long *n_r, char *why, size_t whylen)
{
	struct mp_buf q = MP_BUF_INIT;
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (v[0] == '\0' || end == v || *end != '\0' || errno == ERANGE || has_space(v)) {
		conf_whyf(why, whylen, "'%s' is not an integer", conf_quote(&q, v));
		mp_buf_free(&q);
		return false;
	}
	if (n < o->min || n > o->max)
		return conf_whyf(why, whylen, "%ld is out of bounds (%ld..%ld)", n, o->min, o->max);
	*n_r = n;
	return true;
}

/* The table's spelling of the enum word v, as a new string, or NULL + why. */
static char *
parse_enum(const struct conf_opt *o, const char *v, char *why, size_t whylen)
{
	struct mp_buf q = MP_BUF_INIT, allowed = MP_BUF_INIT;
	char *w = enum_word(o->words, v);

	if (w != NULL)
		return w;
	conf_words_list(&allowed, o->words);
	conf_whyf(why, whylen, "'%s' is not one of %s", conf_quote(&q, v),
	    mp_buf_str(&allowed));
	mp_buf_free(&allowed);
	mp_buf_free(&q);
	return NULL;
}

/* Parses and checks v for option o into val; val is unchanged on error. */
static bool
parse_value(const struct conf_opt *o, const char *v, struct conf_val *val,
    char *why, size_t whylen)
{
	struct mp_buf q = MP_BUF_INIT;
	char *w;

	switch (o->type) {
	case MP_CONF_STRING:
	case MP_CONF_SECRET_FILE:
		if (o->check != NULL && !o->check(v, why, whylen))
			return false;
		free(val->s);
		val->s = xstrdup(v);
		return true;
	case MP_CONF_INT:
		return parse_int(o, v, &val->n, why, whylen);
	case MP_CONF_BOOL:
		if (parse_bool(v, &val->b))
			return true;
		conf_whyf(why, whylen, "'%s' is not yes/no, true/false, on/off or 1/0",
		    conf_quote(&q, v));
		mp_buf_free(&q);
		return false;
	case MP_CONF_ENUM:
		if ((w = parse_enum(o, v, why, whylen)) == NULL)
			return false;
		free(val->s);
		val->s = w;
		return true;
	}
	return conf_whyf(why, whylen, "option of an unknown type");
}

/*
 * Parses and checks v for option i, and stores it in c. With append, v
 * continues a list option's current value. false + why on error; c is
 * unchanged then.
 */
static bool
set_value(struct mp_conf *c, size_t i, const char *v, bool append,
    char *why, size_t whylen)
{
	struct conf_val *val = &c->v[i];
	char *joined = NULL;
	bool ok;

	if (append) {
		joined = val->s[0] != '\0' ? xasprintf("%s %s", val->s, v) : xstrdup(v);
		v = joined;
	}
	ok = plain_text(v, why, whylen) && parse_value(&conf_options[i], v, val, why, whylen);
	free(joined);
	return ok;
}

struct mp_conf *
mp_conf_new_defaults(void)
{
	struct mp_conf *c = xcalloc(1, sizeof(*c) + conf_noptions * sizeof(c->v[0]));
	char why[WHY_MAX];

	c->refs = 1;
	for (size_t i = 0; i < conf_noptions; i++) {
		if (!set_value(c, i, conf_options[i].def, false, why, sizeof(why))) {
			mp_log(LOG_CRIT, "conf: bad default for [%s] %s: %s",
			    conf_options[i].section, conf_options[i].name, why);
			abort();
		}
	}
	return c;
}

/* ---- loading ---------------------------------------------------------- */

struct conf_parse {
	struct mp_conf *c;
	const char *path;
	FILE *fp;
	int lineno;             /* of the line inih is working on */
	bool indented;          /* that line starts with a space or a tab */
	bool option_seen;       /* an option since the last [section] line */
	int *seen;              /* per option: line it was set on, 0: not set */
	int err_line;           /* first error of ours, 0: none */
	char *err;
	size_t errlen;
};

static void
parse_error(struct conf_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
parse_error(struct conf_parse *p, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;

	if (p->err_line != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	p->err_line = p->lineno;
	snprintf(p->err, p->errlen, "%s:%d: %s", p->path, p->lineno, why);
}

/*
 * A "[section]" line s: an unknown section stops the parse here, with
 * its line. A '[' without ']' is left to inih, which refuses it as a
 * syntax error.
 */
static bool
section_line_ok(struct conf_parse *p, const char *s)
{
	const char *close = strchr(s, ']');
	struct mp_buf q = MP_BUF_INIT;
	char *section;
	bool known;

	p->option_seen = false;
	if (close == NULL)
		return true;
	section = xstrndup(s + 1, (size_t)(close - s - 1));
	if (!(known = known_section(section)))
		parse_error(p, "unknown section [%s]", conf_quote(&q, section));
	free(section);
	mp_buf_free(&q);
	return known;
}

/*
 * inih's reader: one whole line per call, or NULL to stop. Doing the
 * reading ourselves is what lets us refuse an overlong line and a NUL
 * byte, and know which line the handler is called for.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	size_t n = 0, max;
	const char *s;
	int ch;

	if (p->err_line != 0 || num < 3)
		return NULL;
	max = (size_t)num - 1;
	while (n < max) {
		if ((ch = getc(p->fp)) == EOF)
			break;
		if (ch == '\0') {
			p->lineno++;
			parse_error(p, "NUL byte in the line");
			return NULL;
		}
		str[n++] = (char)ch;
		if (ch == '\n')
			break;
	}
	if (n == 0) {
		if (ferror(p->fp)) {
			p->lineno++;
			parse_error(p, "read error: %s", strerror(errno));
		}
		return NULL;
	}
	p->lineno++;
	if (n == max && str[n - 1] != '\n') {
		/* The buffer is full: fine only if the line ends right here. */
		ch = getc(p->fp);
		if (ch != EOF && ch != '\n') {
			parse_error(p, "line longer than %zu characters", max - 1);
			return NULL;
		}
	}
	str[n] = '\0';
	p->indented = str[0] == ' ' || str[0] == '\t';
	s = str + strspn(str, " \t");
	if (*s == '[' && !section_line_ok(p, s))
		return NULL;
	return str;
}

/*
 * inih (Debian's 55) strips an inline comment from a name = value line
 * but not from a continuation line: do it here, so that " ;" means the
 * same on every line. Returns value, or its cut copy in buf.
 */
static const char *
strip_comment(char *buf, size_t size, const char *value)
{
	size_t n;

	for (n = 0; value[n] != '\0'; n++)
		if (value[n] == ';' && n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
			break;
	if (value[n] == '\0' || n >= size)
		return value;
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	memcpy(buf, value, n);
	buf[n] = '\0';
	return buf;
}

static int
conf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf_parse *p = user;
	bool cont = p->indented && p->option_seen;
	struct mp_buf q = MP_BUF_INIT;
	char why[WHY_MAX], copy[VALUE_MAX + 1];
	const struct conf_opt *o;
	size_t i;

	p->option_seen = true;
	if (p->err_line != 0)
		return 0;
	if (section[0] == '\0') {
		parse_error(p, "option %s before any [section]", conf_quote(&q, name));
		goto fail;
	}
	if ((o = find_opt(section, name, &i)) == NULL) {
		parse_error(p, "unknown option %s in [%s]", conf_quote(&q, name), section);
		goto fail;
	}
	if (cont) {
		if ((o->flags & F_LIST) == 0) {
			parse_error(p, "indented line continues [%s] %s, which takes one "
			    "value (options must not be indented)", section, name);
			goto fail;
		}
	} else if (p->seen[i] != 0) {
		parse_error(p, "[%s] %s already set on line %d", section, name, p->seen[i]);
		goto fail;
	}
	if (cont)
		value = strip_comment(copy, sizeof(copy), value);
	if (!set_value(p->c, i, value, cont, why, sizeof(why))) {
		parse_error(p, "[%s] %s: %s", section, name, why);
		goto fail;
	}
	if (!cont)
		p->seen[i] = p->lineno;
	return 1;
fail:
	mp_buf_free(&q);
	return 0;
}

/* Runs inih over the open file p->fp; false with the error in p->err. */
static bool
parse_stream(struct conf_parse *p)
{
	int rc;

	p->seen = xcalloc(conf_noptions, sizeof(*p->seen));
	rc = ini_parse_stream(conf_reader, p, conf_handler, p);
	free(p->seen);
	/* inih reports the first line it refused; ours may come later. */
	if (rc > 0 && (p->err_line == 0 || rc < p->err_line))
		snprintf(p->err, p->errlen, "%s:%d: syntax error: expected [section], "
		    "name = value or a comment", p->path, rc);
	else if (rc < 0 && p->err_line == 0)
		snprintf(p->err, p->errlen, "%s: cannot be parsed", p->path);
	return rc == 0 && p->err_line == 0;
}

struct mp_conf *
mp_conf_load(const char *path, char *err, size_t errlen)
{
	struct conf_parse p;
	struct stat st;
	bool ok;

	if (path == NULL)
		path = MP_CONF_DEFAULT_PATH;
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.err = err;
	p.errlen = errlen;
	if ((p.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(p.fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(p.fp);
		return NULL;
	}
	p.c = mp_conf_new_defaults();
	ok = parse_stream(&p);
	fclose(p.fp);
	if (!ok)
		mp_conf_unref(&p.c);
	return p.c;
}

struct mp_conf *
mp_conf_load_or_defaults(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (path != NULL)
		return mp_conf_load(path, err, errlen);
	/* A missing default file is normal on a fresh host; a broken one is an error. */
	if (stat(MP_CONF_DEFAULT_PATH, &st) == 0)
		return mp_conf_load(MP_CONF_DEFAULT_PATH, err, errlen);
	return mp_conf_new_defaults();
}

bool
mp_conf_set(struct mp_conf *c, const char *section, const char *name,
    const char *value, char *err, size_t errlen)
{
	char why[WHY_MAX];
	size_t i;

	/* A shared configuration is read by other threads without locks. */
	if (__atomic_load_n(&c->refs, __ATOMIC_ACQUIRE) != 1) {
		mp_log(LOG_CRIT, "mp_conf_set on a shared configuration");
		abort();
	}
	if (!known_section(section)) {
		snprintf(err, errlen, "unknown section [%s]", section);
		return false;
	}
	if (find_opt(section, name, &i) == NULL) {
		snprintf(err, errlen, "unknown option %s in [%s]", name, section);
		return false;
	}
	if (!set_value(c, i, value, false, why, sizeof(why))) {
		snprintf(err, errlen, "[%s] %s: %s", section, name, why);
		return false;
	}
	return true;
}

struct mp_conf *
mp_conf_ref(struct mp_conf *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void
mp_conf_unref(struct mp_conf **cp)
{
	struct mp_conf *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	*cp = NULL;
	/* Release our writes, acquire everyone else's before freeing. */
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < conf_noptions; i++)
		free(c->v[i].s);
	free(c);
}

/* ---- getters ---------------------------------------------------------- */

static const struct conf_val *
get(const struct mp_conf *c, const char *section, const char *name,
    enum mp_conf_type t1, enum mp_conf_type t2, enum mp_conf_type t3)
{
	const struct conf_opt *o;
	size_t i;

	if ((o = find_opt(section, name, &i)) == NULL) {
		mp_log(LOG_CRIT, "conf: no option [%s] %s", section, name);
		abort();
	}
	if (o->type != t1 && o->type != t2 && o->type != t3) {
		mp_log(LOG_CRIT, "conf: [%s] %s read with the wrong type", section, name);
		abort();
	}
	return &c->v[i];
}

const char *
mp_conf_str(const struct mp_conf *c, const char *section, const char *name)
{
	return get(c, section, name, MP_CONF_STRING, MP_CONF_ENUM, MP_CONF_SECRET_FILE)->s;
}

long
mp_conf_int(const struct mp_conf *c, const char *section, const char *name)
{
	return get(c, section, name, MP_CONF_INT, MP_CONF_INT, MP_CONF_INT)->n;
}

bool
mp_conf_bool(const struct mp_conf *c, const char *section, const char *name)
{
	return get(c, section, name, MP_CONF_BOOL, MP_CONF_BOOL, MP_CONF_BOOL)->b;
}
