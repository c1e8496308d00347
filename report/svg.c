/*
 * svg: a few chart shapes on a fixed 760-pixel-wide canvas (the page's
 * column), scaled to the largest value rounded up to 1, 2 or 5 times a
 * power of ten so that grid lines fall on round numbers.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "html.h"
#include "svg.h"

#define W 760.0
#define PAD_L 56.0          /* room for the y axis labels */
#define PAD_R 12.0
#define PAD_T 30.0          /* room for the legend */
#define PAD_B 34.0          /* room for the x axis labels */
#define COL_H 260.0
#define LINE_H 250.0
#define SHARE_H 58.0
#define BAR_ROW 22.0
#define BAR_LABEL 250.0     /* the label column of svg_bars */
#define MAX_SERIES 8
#define GRID 4              /* grid intervals on the y axis, about */

static void
svg_open(struct mp_buf *out, const char *title, double h)
{
	mp_buf_printf(out, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
	    "height=\"%.0f\" role=\"img\" aria-label=\"", W, h, W, h);
	html_text(out, title, MP_SHOW_LINE);
	mp_buf_puts(out, "\"><title>");
	html_text(out, title, MP_SHOW_LINE);
	mp_buf_puts(out, "</title>\n");
}

static void
svg_close(struct mp_buf *out)
{
	mp_buf_puts(out, "</svg>\n");
}

/* A text at (x, y); anchor "start", "middle" or "end". */
static void
text(struct mp_buf *out, double x, double y, const char *anchor, const char *s, size_t max)
{
	mp_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y, anchor);
	html_text(out, s, max);
	mp_buf_puts(out, "</text>\n");
}

/* A rectangle with its figure as a tooltip: "what: value". */
static void
rect(struct mp_buf *out, double x, double y, double w, double h, const char *color,
    const char *what, const char *value)
{
	mp_buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
	    "fill=\"%s\"><title>", x, y, w, h, color);
	html_text(out, what, MP_SHOW_LINE);
	mp_buf_puts(out, ": ");
	html_text(out, value, MP_SHOW_TOKEN);
	mp_buf_puts(out, "</title></rect>\n");
}

/* Colour keys in a row from (x, y). */
static void
legend(struct mp_buf *out, double x, double y, size_t n, const char *const *name,
    const char *const *color)
{
	for (size_t i = 0; i < n; i++) {
		mp_buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" "
		    "fill=\"%s\"/>\n", x, y - 9, color[i]);
		text(out, x + 14, y, "start", name[i], MP_SHOW_TOKEN);
		x += 28 + 7.0 * (double)(strlen(name[i]) < MP_SHOW_TOKEN ? strlen(name[i]) :
		    MP_SHOW_TOKEN);
	}
}

/* The smallest of 1, 2, 5 times a power of ten that is at least m. */
static double
round_up(double m)
{
	double e = 1;

	if (m <= 1)
		return 1;
	while (e * 10 < m)
		e *= 10;
	return m <= e ? e : m <= 2 * e ? 2 * e : m <= 5 * e ? 5 * e : 10 * e;
}

/* Grid lines every step from 0 up to n steps over the plot, labelled left. */
static void
grid(struct mp_buf *out, double step, int n, double y0, double ph)
{
	char b[32];

	for (int i = 0; i <= n; i++) {
		double y = y0 - ph * i / n;

		mp_buf_printf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\"/>\n", PAD_L, y, W - PAD_R, y);
		snprintf(b, sizeof(b), "%.0f", step * i);
		text(out, PAD_L - 6, y + 4, "end", b, MP_SHOW_TOKEN);
	}
}

void
svg_columns(struct mp_buf *out, const char *title, size_t nx, const char *const *xlabel,
    size_t ns, const struct svg_series *s)
{
	const char *name[MAX_SERIES], *color[MAX_SERIES];
	double max = 0, step, top, ph = COL_H - PAD_T - PAD_B, y0 = COL_H - PAD_B, cw;
	int nstep;
	size_t every = nx / 12 + 1;
	char b[32];

	if (ns > MAX_SERIES)
		ns = MAX_SERIES;
	for (size_t k = 0; k < ns; k++) {
		name[k] = s[k].name;
		color[k] = s[k].color;
	}
	for (size_t x = 0; x < nx; x++) {
		double sum = 0;

		for (size_t k = 0; k < ns; k++)
			sum += s[k].v[x];
		max = sum > max ? sum : max;
	}
	/* Round steps (1, 2, 5, 10...), as many as it takes to reach max. */
	step = round_up(max / GRID);
	nstep = max > 0 ? (int)((max + step - 1e-9) / step) : 1;
	top = step * nstep;
	cw = (W - PAD_L - PAD_R) / (double)(nx ? nx : 1);
	svg_open(out, title, COL_H);
	legend(out, PAD_L, 16, ns, name, color);
	grid(out, step, nstep, y0, ph);
	for (size_t x = 0; x < nx; x++) {
		double y = y0, left = PAD_L + cw * (double)x;

		for (size_t k = 0; k < ns; k++) {
			double h = s[k].v[x] / top * ph;
			struct mp_buf what = MP_BUF_INIT;

			if (s[k].v[x] <= 0)
				continue;
			mp_buf_printf(&what, "%s %s", xlabel[x], s[k].name);
			snprintf(b, sizeof(b), "%.0f", s[k].v[x]);
			rect(out, left + cw * 0.15, y - h, cw * 0.7, h, s[k].color,
			    mp_buf_str(&what), b);
			mp_buf_free(&what);
			y -= h;
		}
		if (x % every == 0 || x + 1 == nx)
			text(out, left + cw / 2, y0 + 16, "middle", xlabel[x], MP_SHOW_TOKEN);
	}
	svg_close(out);
}

/* The parts of one bar from (x, y), w by h, in proportion to v (all 0:
 * none); with pct, each part wide enough says its share. */
static void
parts(struct mp_buf *out, double x, double y, double w, double h, size_t n,
    const char *const *name, const char *const *color, const double *v, bool pct)
{
	double sum = 0;
	char b[48];

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	mp_buf_printf(out, "<rect class=\"empty\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
	    "height=\"%.1f\"/>\n", x, y, w, h);
	for (size_t i = 0; i < n && sum > 0; i++) {
		double pw = v[i] / sum * w;

		if (v[i] <= 0)
			continue;
		snprintf(b, sizeof(b), "%.0f (%.1f%%)", v[i], v[i] * 100 / sum);
		rect(out, x, y, pw, h, color[i], name[i], b);
		if (pct && pw > 44) {
			snprintf(b, sizeof(b), "%.0f%%", v[i] * 100 / sum);
			mp_buf_puts(out, "<g class=\"on\">");
			text(out, x + pw / 2, y + h - 8, "middle", b, MP_SHOW_TOKEN);
			mp_buf_puts(out, "</g>");
		}
		x += pw;
	}
}

void
svg_share(struct mp_buf *out, const char *title, size_t n, const char *const *name,
    const char *const *color, const double *v)
{
	svg_open(out, title, SHARE_H);
	parts(out, PAD_L, 4, W - PAD_L - PAD_R, 26, n, name, color, v, true);
	legend(out, PAD_L, SHARE_H - 8, n, name, color);
	svg_close(out);
}

void
svg_mini(struct mp_buf *out, const char *title, size_t n, const char *const *name,
    const char *const *color, const double *v)
{
	mp_buf_puts(out, "<svg class=\"mini\" viewBox=\"0 0 160 14\" width=\"160\" height=\"14\" "
	    "role=\"img\" aria-label=\"");
	html_text(out, title, MP_SHOW_LINE);
	mp_buf_puts(out, "\">");
	parts(out, 0, 0, 160, 14, n, name, color, v, false);
	svg_close(out);
}

void
svg_bars(struct mp_buf *out, const char *title, size_t n, const char *const *label,
    const double *v, const char *color)
{
	double max = 0, pw = W - BAR_LABEL - PAD_R - 48, h = BAR_ROW * (double)n + 8;
	char b[32];

	for (size_t i = 0; i < n; i++)
		max = v[i] > max ? v[i] : max;
	svg_open(out, title, h);
	for (size_t i = 0; i < n; i++) {
		double y = 4 + BAR_ROW * (double)i, w = max > 0 ? v[i] / max * pw : 0;

		text(out, BAR_LABEL - 8, y + 14, "end", label[i], MP_SHOW_TOKEN);
		snprintf(b, sizeof(b), "%.0f", v[i]);
		rect(out, BAR_LABEL, y + 2, w > 1 ? w : 1, BAR_ROW - 6, color, label[i], b);
		text(out, BAR_LABEL + w + 6, y + 14, "start", b, MP_SHOW_TOKEN);
	}
	svg_close(out);
}

/* The earliest and latest time of the lines, at least a day apart. */
static void
time_span(size_t nl, const struct svg_line *l, double *t0, double *t1)
{
	bool any = false;

	*t0 = *t1 = 0;
	for (size_t k = 0; k < nl; k++)
		for (size_t i = 0; i < l[k].n; i++) {
			if (!any || l[k].t[i] < *t0)
				*t0 = l[k].t[i];
			if (!any || l[k].t[i] > *t1)
				*t1 = l[k].t[i];
			any = true;
		}
	if (*t1 - *t0 < 86400) {
		*t0 -= 43200;
		*t1 += 43200;
	}
}

/* "yyyy-mm-dd" of unix time t, under x on the time axis. */
static void
date_label(struct mp_buf *out, double x, double y, double t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char b[16] = "";

	if (gmtime_r(&tt, &tm) != NULL)
		strftime(b, sizeof(b), "%Y-%m-%d", &tm);
	text(out, x, y, "middle", b, MP_SHOW_TOKEN);
}

void
svg_lines(struct mp_buf *out, const char *title, size_t nl, const struct svg_line *l)
{
	const char *name[MAX_SERIES], *color[MAX_SERIES];
	double t0, t1, pw = W - PAD_L - PAD_R - 40, ph = LINE_H - PAD_T - PAD_B;
	double y0 = LINE_H - PAD_B, x0 = PAD_L + 20;

	if (nl > MAX_SERIES)
		nl = MAX_SERIES;
	for (size_t k = 0; k < nl; k++) {
		name[k] = l[k].name;
		color[k] = l[k].color;
	}
	time_span(nl, l, &t0, &t1);
	svg_open(out, title, LINE_H);
	legend(out, PAD_L, 16, nl, name, color);
	grid(out, 25, 4, y0, ph);
	for (int i = 0; i <= 2; i++)
		date_label(out, x0 + pw * i / 2, y0 + 16, t0 + (t1 - t0) * i / 2);
	for (size_t k = 0; k < nl; k++) {
		mp_buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
		    "points=\"", l[k].color);
		for (size_t i = 0; i < l[k].n; i++)
			mp_buf_printf(out, "%s%.1f,%.1f", i ? " " : "",
			    x0 + (l[k].t[i] - t0) / (t1 - t0) * pw, y0 - l[k].y[i] / 100 * ph);
		mp_buf_puts(out, "\"/>\n");
		for (size_t i = 0; i < l[k].n; i++) {
			mp_buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\">"
			    "<title>",
			    x0 + (l[k].t[i] - t0) / (t1 - t0) * pw, y0 - l[k].y[i] / 100 * ph,
			    l[k].color);
			html_text(out, l[k].tip[i], MP_SHOW_LINE);
			mp_buf_puts(out, "</title></circle>\n");
		}
	}
	svg_close(out);
}
