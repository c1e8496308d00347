/*
 * table: aligned text tables that fit a width (100 columns). Cells are
 * copied through mp_printable, so text from Redis cannot move the
 * cursor or ring the bell. When the table is too wide, the one column
 * marked as shrinkable is cut, with "..." at the end of cut cells.
 */
#ifndef MP_REPORT_TABLE_H
#define MP_REPORT_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#define TABLE_WIDTH 100
#define TABLE_MAXCOLS 12

struct table;

/* spec: one character per column, 'l' left or 'r' right aligned, and
 * 'L' for the left-aligned column that shrinks when the table is too
 * wide. */
struct table *table_new(const char *spec, const char *const *headers);
void table_add(struct table *t, const char *const *cells);
/* Prints and frees; *tp is NULL afterwards. */
void table_print(struct table **tp, FILE *out, int width);

#endif
