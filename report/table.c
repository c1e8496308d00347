#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "util.h"

struct table {
	int ncols;
	char align[TABLE_MAXCOLS];
	int shrink;                 /* column that may be cut, or -1 */
	char **cells;               /* row-major, header row first */
	size_t nrows;
};

/* A cell made printable. The cap only bounds the copy: table_print cuts
 * every cell to the table width anyway. */
static char *
clean(const char *s)
{
	struct mp_buf b = MP_BUF_INIT;

	s = s ? s : "";
	mp_printable(&b, s, strlen(s), MP_SHOW_DOMAIN);
	return mp_buf_steal(&b);
}

struct table *
table_new(const char *spec, const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->shrink = -1;
	for (const char *p = spec; *p && t->ncols < TABLE_MAXCOLS; p++) {
		if (*p == 'L')
			t->shrink = t->ncols;
		t->align[t->ncols++] = *p == 'r' ? 'r' : 'l';
	}
	table_add(t, headers);
	return t;
}

void
table_add(struct table *t, const char *const *cells)
{
	t->cells = xreallocarray(t->cells, (t->nrows + 1) * (size_t)t->ncols, sizeof(char *));
	for (int i = 0; i < t->ncols; i++)
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = clean(cells[i]);
	t->nrows++;
}

void
table_print(struct table **tp, FILE *out, int width)
{
	struct table *t = *tp;
	int w[TABLE_MAXCOLS] = { 0 }, total = 0;

	*tp = NULL;
	for (size_t r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++) {
			int len = (int)strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);

			if (len > w[c])
				w[c] = len;
		}
	for (int c = 0; c < t->ncols; c++)
		total += w[c] + (c > 0 ? 2 : 0);
	if (total > width && t->shrink >= 0) {
		int cut = total - width;

		w[t->shrink] = w[t->shrink] - cut < 8 ? 8 : w[t->shrink] - cut;
	}
	/* Anything still too wide is cut column by column from the right. */
	for (int c = 0; c < t->ncols; c++)
		if (w[c] > width)
			w[c] = width;
	for (size_t r = 0; r < t->nrows; r++) {
		struct mp_buf line = MP_BUF_INIT;

		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
			int len = (int)strlen(s), pad;

			if (c > 0)
				mp_buf_puts(&line, "  ");
			if (len > w[c]) {
				mp_buf_append(&line, s, (size_t)(w[c] - 3));
				mp_buf_puts(&line, "...");
				len = w[c];
				pad = 0;
			} else {
				pad = w[c] - len;
				if (t->align[c] == 'r')
					for (int i = 0; i < pad; i++)
						mp_buf_putc(&line, ' ');
				mp_buf_puts(&line, s);
				if (t->align[c] == 'r')
					pad = 0;
			}
			if (c + 1 < t->ncols)
				for (int i = 0; i < pad; i++)
					mp_buf_putc(&line, ' ');
		}
		/* No trailing blanks; the whole line within width. */
		while (line.len > 0 && line.data[line.len - 1] == ' ')
			line.data[--line.len] = '\0';
		if (line.len > (size_t)width)
			line.data[line.len = (size_t)width] = '\0';
		fprintf(out, "%s\n", mp_buf_str(&line));
		mp_buf_free(&line);
	}
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
