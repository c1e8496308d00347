/*
 * conf's description of its own options, generated from the option
 * table: the commented sample (conf/mailposture.conf) and the manual
 * page mailposture.conf(5). tests/unit/test_conf checks that the
 * committed files are what this prints.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "log.h"
#include "util.h"

/* Writes text as lines of at most width columns, each after prefix. */
static void
wrap(FILE *out, const char *prefix, const char *text, size_t width)
{
	const char *p = text;
	size_t col = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (col > 0 && col + 1 + n > width) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0) {
			fputs(prefix, out);
			col = strlen(prefix);
		} else {
			fputc(' ', out);
			col++;
		}
		fwrite(p, 1, n, out);
		col += n;
		p += n;
		p += strspn(p, " ");
	}
	if (col > 0)
		fputc('\n', out);
}

static void
type_text(struct mp_buf *b, const struct conf_opt *o)
{
	switch (o->type) {
	case MP_CONF_STRING:
		mp_buf_puts(b, (o->flags & F_LIST) ? "list" : "string");
		break;
	case MP_CONF_INT:
		mp_buf_printf(b, "integer, %ld..%ld", o->min, o->max);
		break;
	case MP_CONF_BOOL:
		mp_buf_puts(b, "yes or no");
		break;
	case MP_CONF_ENUM:
		mp_buf_puts(b, "one of ");
		conf_words_list(b, o->words);
		break;
	case MP_CONF_SECRET_FILE:
		mp_buf_puts(b, "private file");
		break;
	}
}

static void
describe_ini(FILE *out)
{
	const char *cur = NULL;

	fputs("# mailposture.conf: configuration of mailposture-milter,\n"
	    "# mailposture-check, mailposture-audit and mailposture-report.\n"
	    "#\n"
	    "# Generated from the option table in policy/conf_table.c; do not\n"
	    "# edit by hand (tests/unit/test_conf checks that the two agree).\n"
	    "#\n"
	    "# Every option is shown commented out with its default value.\n"
	    "# Lines that start with '#' or ';' are comments; after a value, a\n"
	    "# comment starts with \" ;\". Options are not indented: an indented\n"
	    "# line continues a list option. Setting an option twice, an unknown\n"
	    "# section or option, or a value of the wrong type or out of bounds\n"
	    "# is an error, reported as FILE:LINE: reason. Lines are at most 198\n"
	    "# characters long.\n", out);
	for (size_t i = 0; i < conf_noptions; i++) {
		const struct conf_opt *o = &conf_options[i];
		struct mp_buf t = MP_BUF_INIT;

		if (cur == NULL || strcmp(cur, o->section) != 0) {
			fprintf(out, "\n[%s]\n", o->section);
			cur = o->section;
		}
		fputc('\n', out);
		wrap(out, "# ", o->help, 72);
		mp_buf_puts(&t, "Type: ");
		type_text(&t, o);
		mp_buf_putc(&t, '.');
		wrap(out, "# ", mp_buf_str(&t), 72);
		mp_buf_free(&t);
		if (o->def[0] != '\0')
			fprintf(out, "#%s = %s\n", o->name, o->def);
		else
			fprintf(out, "#%s =\n", o->name);
	}
}

/* roff text: a backslash is \e, and a line must not start a request. */
static void
roff_text(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static void
describe_man(FILE *out)
{
	const char *cur = NULL;

	fputs(".\\\" Generated from the option table in policy/conf_table.c; do not edit.\n"
	    ".TH MAILPOSTURE.CONF 5 \"\" \"mailposture " PACKAGE_VERSION "\" \"File Formats\"\n"
	    ".SH NAME\n"
	    "mailposture.conf \\- configuration of mailposture\n"
	    ".SH DESCRIPTION\n"
	    "An INI file read by mailposture\\-milter, mailposture\\-check,\n"
	    "mailposture\\-audit and mailposture\\-report, by default\n"
	    ".IR " MP_CONF_DEFAULT_PATH " .\n"
	    "Lines that start with\n"
	    ".B #\n"
	    "or\n"
	    ".B ;\n"
	    "are comments; after a value, a comment starts with a space and\n"
	    ".BR ; .\n"
	    "An indented line continues a list option.\n"
	    "An option set twice, an unknown section or option, and a value of\n"
	    "the wrong type or out of bounds are errors, reported as\n"
	    "\\fIFILE\\fP:\\fILINE\\fP: reason.\n"
	    "Lines are at most 198 characters long.\n", out);
	for (size_t i = 0; i < conf_noptions; i++) {
		const struct conf_opt *o = &conf_options[i];
		struct mp_buf t = MP_BUF_INIT;

		if (cur == NULL || strcmp(cur, o->section) != 0) {
			fprintf(out, ".SH \"SECTION [%s]\"\n", o->section);
			cur = o->section;
		}
		fprintf(out, ".TP\n.B ");
		roff_text(out, o->name);
		fputc('\n', out);
		roff_text(out, o->help);
		fputc('\n', out);
		type_text(&t, o);
		fputs(".br\nType: ", out);
		roff_text(out, mp_buf_str(&t));
		fputs(". Default: ", out);
		if (o->def[0] != '\0')
			roff_text(out, o->def);
		else
			fputs("empty", out);
		fputs(".\n", out);
		mp_buf_free(&t);
	}
	fputs(".SH SEE ALSO\n"
	    ".BR mailposture\\-milter (8),\n"
	    ".BR mailposture\\-audit (8),\n"
	    ".BR mailposture\\-check (1),\n"
	    ".BR mailposture\\-report (1)\n", out);
}

void
mp_conf_describe(FILE *out, const char *format)
{
	if (strcmp(format, "ini") == 0)
		describe_ini(out);
	else if (strcmp(format, "man") == 0)
		describe_man(out);
	else {
		mp_log(LOG_CRIT, "mp_conf_describe: unknown format %s", format);
		abort();
	}
}
