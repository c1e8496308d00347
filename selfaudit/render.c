/*
 * render: the report as text (reads like the online checkers' reports,
 * with the evidence and the fix under every check that is not a PASS)
 * and as JSON with the same data.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"

static void
indent_lines(struct mp_buf *out, const char *prefix, const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		size_t l = strcspn(p, "\n");

		mp_buf_puts(out, prefix);
		mp_buf_append(out, p, l);
		mp_buf_putc(out, '\n');
		p += l;
		if (*p == '\n')
			p++;
	}
}

void
audit_render_text(const struct audit_report *r, struct mp_buf *out)
{
	mp_buf_printf(out, "mailposture-audit of %s port %s", r->host, r->port);
	if (r->domain[0] != '\0')
		mp_buf_printf(out, ", domain %s", r->domain);
	if (r->public_ip[0] != '\0')
		mp_buf_printf(out, ", public IP %s", r->public_ip);
	mp_buf_putc(out, '\n');
	if (r->score >= 0)
		mp_buf_printf(out, "Security Score %s (%d/100)\n", r->grade, r->score);
	else
		mp_buf_puts(out, "Security Score ? (nothing could be checked)\n");
	if (r->cap_reason != NULL)
		mp_buf_printf(out, "Grade %s\n", r->cap_reason);
	mp_buf_putc(out, '\n');
	for (int i = 0; i < CHK_COUNT; i++) {
		const struct audit_check *c = &r->check[i];

		mp_buf_printf(out, "%-28s %-10s  %s\n", audit_defs[i].name,
		    audit_status_str(c->status), c->finding);
	}
	for (int i = 0; i < CHK_COUNT; i++) {
		const struct audit_check *c = &r->check[i];

		if (c->status == AUDIT_PASS || c->status == AUDIT_INFO)
			continue;
		if (c->status == AUDIT_NOT_TESTED && c->evidence.len == 0 && c->fix[0] == '\0')
			continue;
		mp_buf_printf(out, "\n%s: %s\n", audit_defs[i].name, audit_status_str(c->status));
		mp_buf_printf(out, "  finding: %s\n", c->finding);
		if (c->evidence.len > 0) {
			mp_buf_puts(out, "  evidence:\n");
			indent_lines(out, "    ", mp_buf_str(&c->evidence));
		}
		mp_buf_printf(out, "  why: %s\n", audit_defs[i].why);
		if (c->fix[0] != '\0')
			mp_buf_printf(out, "  fix: %s\n", c->fix);
	}
	mp_buf_printf(out, "\nAudit finished in %.2f s (SMTP %.2f s, DNS %.2f s)%s\n",
	    r->elapsed_ms / 1000.0, r->smtp_ms / 1000.0, r->dns_ms / 1000.0,
	    r->stored ? ", stored in Redis" : "");
}

char *
audit_render_json(const struct audit_report *r)
{
	json_t *root = json_object(), *checks = json_array();
	char *s;

	json_object_set_new(root, "host", json_string(r->host));
	json_object_set_new(root, "port", json_string(r->port));
	json_object_set_new(root, "domain", json_string(r->domain));
	json_object_set_new(root, "public_ip", json_string(r->public_ip));
	json_object_set_new(root, "source", json_string(r->source));
	json_object_set_new(root, "score", json_integer(r->score));
	json_object_set_new(root, "grade", json_string(r->grade));
	json_object_set_new(root, "cap", r->cap_reason ? json_string(r->cap_reason) : json_null());
	json_object_set_new(root, "points_earned", json_real(r->earned));
	json_object_set_new(root, "points_possible", json_real(r->possible));
	json_object_set_new(root, "elapsed_ms", json_integer((json_int_t)r->elapsed_ms));
	for (int i = 0; i < CHK_COUNT; i++) {
		const struct audit_check *c = &r->check[i];
		json_t *o = json_object(), *ev = json_array();
		const char *p = mp_buf_str(&c->evidence);

		json_object_set_new(o, "id", json_string(audit_defs[i].id));
		json_object_set_new(o, "name", json_string(audit_defs[i].name));
		json_object_set_new(o, "status", json_string(audit_status_str(c->status)));
		json_object_set_new(o, "weight", json_integer(audit_defs[i].weight));
		json_object_set_new(o, "finding", json_string(c->finding));
		while (*p != '\0') {
			size_t l = strcspn(p, "\n");

			json_array_append_new(ev, json_stringn(p, l));
			p += l;
			if (*p == '\n')
				p++;
		}
		json_object_set_new(o, "evidence", ev);
		json_object_set_new(o, "why", json_string(audit_defs[i].why));
		json_object_set_new(o, "fix", json_string(c->fix));
		json_array_append_new(checks, o);
	}
	json_object_set_new(root, "checks", checks);
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return s ? s : xstrdup("{}");
}
