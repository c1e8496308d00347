/*
 * svg: the charts of mailposture-report html, drawn as inline SVG by our
 * own code: no script, no font and nothing fetched, so the page shows
 * the same offline and in a mail client's sandbox. Every text given is
 * escaped here (html_text); colours are ours, never from Redis. Each
 * mark carries a <title> with its exact figure, shown on hover.
 */
#ifndef MP_REPORT_SVG_H
#define MP_REPORT_SVG_H

#include <stddef.h>

#include "util.h"

/* One series of a column chart: a value per column. */
struct svg_series {
	const char *name;
	const char *color;
	const double *v;
};

/* Columns x[0..nx) left to right, the ns series stacked in each. */
void svg_columns(struct mp_buf *out, const char *title, size_t nx, const char *const *xlabel,
    size_t ns, const struct svg_series *s);

/* One bar split into n parts in proportion to v (all 0: an empty bar). */
void svg_share(struct mp_buf *out, const char *title, size_t n, const char *const *name,
    const char *const *color, const double *v);

/* The same as a small bar for a table cell (160 by 14), no legend. */
void svg_mini(struct mp_buf *out, const char *title, size_t n, const char *const *name,
    const char *const *color, const double *v);

/* Horizontal bars, one a row, the longest v[i] the full width. */
void svg_bars(struct mp_buf *out, const char *title, size_t n, const char *const *label,
    const double *v, const char *color);

/* A line of points (t[i] unix time, y[i] in 0..100), each with a tip. */
struct svg_line {
	const char *name;
	const char *color;
	size_t n;
	const double *t, *y;
	const char *const *tip;
};

/* Lines over time, y from 0 to 100. */
void svg_lines(struct mp_buf *out, const char *title, size_t nl, const struct svg_line *l);

#endif
