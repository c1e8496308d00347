/*
 * render: the text form of each query result (see query.h), aligned
 * tables within TABLE_WIDTH columns.
 */
#ifndef MP_REPORT_RENDER_H
#define MP_REPORT_RENDER_H

#include <stdio.h>

#include <jansson.h>

void render_summary(FILE *out, const json_t *r);
void render_domain(FILE *out, const json_t *r);
void render_top(FILE *out, const json_t *r);
void render_ip(FILE *out, const json_t *r);
void render_messages(FILE *out, const json_t *r);
void render_audits(FILE *out, const json_t *r);
void render_audit_history(FILE *out, const json_t *r);

#endif
