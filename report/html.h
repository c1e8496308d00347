/*
 * html: mailposture-report html, one self-contained page (no script, no
 * font, nothing fetched; a Content-Security-Policy says so to the
 * browser too) with charts drawn by svg.c. Its data is one JSON object
 * (q_page, what --json prints) built from the same queries as the text
 * commands: summary, top --worst and domain, top --volume, audits, plus
 * the two questions only the page asks (the senders' published DMARC
 * policies, and the source IPs of the most DMARC failures), so the
 * page shows the numbers the other commands show.
 */
#ifndef MP_REPORT_HTML_H
#define MP_REPORT_HTML_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "query.h"
#include "util.h"

/* The page's data over the last days, n rows per ranking; NULL when
 * Redis failed (q->failed); "found" false when there is nothing. */
json_t *q_page(struct rq *q, int days, int n);

/* Writes the page. */
void render_html(FILE *out, const json_t *page);

/*
 * Appends s as HTML text, safe in an element and in a quoted attribute
 * value: made printable first (mp_printable, at most max bytes of s,
 * one of MP_SHOW_*), then & < > " ' as character references. Every
 * string from Redis reaches the page through here.
 */
void html_text(struct mp_buf *out, const char *s, size_t max);

#endif
