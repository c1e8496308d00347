/*
 * verdict_show: what an evaluation says to the outside, from its plain
 * result data: the Authentication-Results value we add, the text
 * mailposture-check prints and its JSON. Nothing here decides anything.
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "decide.h"
#include "verdict.h"

void
mp_header_comment(struct mp_buf *out, const char *s)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, s, strlen(s), MP_SHOW_LINE);
	for (const char *p = mp_buf_str(&b); *p; p++)
		mp_buf_putc(out, (*p == '(' || *p == ')' || *p == '\\') ? ' ' : *p);
	mp_buf_free(&b);
}

/* " header.NAME=VALUE", left out when the signature gave no value. */
static void
put_prop(struct mp_buf *b, const char *name, const char *value)
{
	if (value[0] == '\0')
		return;
	mp_buf_printf(b, " header.%s=", name);
	mp_authres_put_value(b, value);
}

/*
 * One dkim= result per DKIM-Signature field, in header order (RFC 8601
 * 2.7.1, with header.b as RFC 6008 names it); "dkim=none" for a message
 * verified here that carries no signature. Anything but a pass says why
 * in a comment, which readers skip. Nothing when DKIM was not verified
 * here: the header then claims nothing about it.
 */
static void
put_dkim(struct mp_buf *b, const struct mp_result *r)
{
	if (!r->dkim_verified)
		return;
	if (r->ndkim_sig == 0)
		mp_buf_puts(b, ";\n\tdkim=none");
	for (size_t i = 0; i < r->ndkim_sig && i < MP_DKIM_MAX; i++) {
		const struct mp_dkim_sig *s = &r->dkim_sig[i];

		mp_buf_printf(b, ";\n\tdkim=%s", mp_dkim_result_str(s->result));
		if (s->result != MP_DKIM_PASS) {
			mp_buf_puts(b, " (");
			mp_header_comment(b, s->reason[0] ? s->reason :
			    s->checked ? "no reason given" : "not checked");
			mp_buf_putc(b, ')');
		}
		put_prop(b, "d", s->domain);
		put_prop(b, "s", s->selector);
		put_prop(b, "b", s->b);
	}
}

/*
 * smtp.mailfrom is what downstream readers align on: it is the address
 * only when the display copy is the address unchanged, holds one '@'
 * (a reader that splits "a@victim"@attacker at the first would see the
 * victim) and is short enough for an A-R reader (ours keeps 255 bytes of
 * a value), else the domain SPF checked (RFC 8601 2.7.2 allows the
 * domain alone), never a cut or escaped copy that could read as another
 * domain.
 */
void
mp_result_authres(const struct mp_result *r, const char *authserv_id, struct mp_buf *b)
{
	mp_buf_printf(b, "%s; spf=%s", authserv_id, mp_spf_result_str(r->spf.result));
	if (r->mail_from_shown[0] && r->mail_from_whole &&
	    strchr(r->mail_from_shown, '@') == strrchr(r->mail_from_shown, '@') &&
	    strlen(r->mail_from_shown) < sizeof(((struct mp_authres_prop *)0)->value) - 2) {
		mp_buf_puts(b, " smtp.mailfrom=");
		mp_authres_put_pvalue(b, r->mail_from_shown);
	} else if (r->mail_from_shown[0] && r->spf.domain[0]) {
		mp_buf_puts(b, " smtp.mailfrom=");
		mp_authres_put_value(b, r->spf.domain);
	} else if (r->mail_from_shown[0] == '\0' && r->spf.dmarc_domain[0]) {
		mp_buf_puts(b, " smtp.helo=");
		mp_authres_put_value(b, r->spf.dmarc_domain);
	}
	put_dkim(b, r);
	mp_buf_printf(b, ";\n\tdmarc=%s", mp_dmarc_result_str(r->dmarc_result));
	if (r->from_domain[0] == '\0') {
		mp_buf_puts(b, " reason=");
		mp_authres_put_value(b, r->problem_text[0] ? r->problem_text : "no From domain");
		return;
	}
	if (r->dmarc.record_found)
		mp_buf_printf(b, " (p=%s dis=%s)", mp_dmarc_policy_str(r->dmarc.policy),
		    mp_dmarc_policy_str(r->dmarc.disposition));
	mp_buf_puts(b, " header.from=");
	mp_authres_put_value(b, r->from_domain);
}

/* The DKIM lines of the text rendering, one per signature. */
static void
print_dkim(const struct mp_result *r, struct mp_buf *out)
{
	if (!r->dkim_verified)
		return;
	if (r->ndkim_sig == 0)
		mp_buf_puts(out, "DKIM:          none (no DKIM-Signature)\n");
	for (size_t i = 0; i < r->ndkim_sig && i < MP_DKIM_MAX; i++) {
		const struct mp_dkim_sig *s = &r->dkim_sig[i];

		mp_buf_printf(out, "%s%s d=%s s=%s", i == 0 ? "DKIM:          " : "               ",
		    mp_dkim_result_str(s->result), s->domain[0] ? s->domain : "-",
		    s->selector[0] ? s->selector : "-");
		if (s->algorithm[0])
			mp_buf_printf(out, " (%s", s->algorithm);
		if (s->algorithm[0] && s->key_bits)
			mp_buf_printf(out, ", %u-bit key", s->key_bits);
		mp_buf_printf(out, "%s, %s%s%s\n", s->algorithm[0] ? ")" : "",
		    r->dkim_sig_aligned[i] ? "aligned" : "not aligned", s->reason[0] ? ": " : "",
		    s->reason);
	}
}

static const char *
dkim_alignment(const struct mp_result *r)
{
	if (r->dmarc.dkim_aligned)
		return "aligned";
	if (r->ndkim > 0)
		return "not aligned";
	return r->dkim_verified ? "not aligned (no signature passed)" : "no trusted DKIM result";
}

void
mp_verdict_print(const struct mp_verdict *v, const struct mp_decision *dec,
    struct mp_buf *out)
{
	const struct mp_result *r = mp_verdict_result(v);
	const struct mp_dmarc_outcome *d = &r->dmarc;

	mp_buf_printf(out, "Client:        %s (HELO %s)\n", r->ip[0] ? r->ip : "-",
	    r->helo_shown[0] ? r->helo_shown : "-");
	mp_buf_printf(out, "MAIL FROM:     <%s>\n", r->mail_from_shown);
	mp_buf_printf(out, "From domain:   %s\n", r->from_domain[0] ? r->from_domain : "-");
	if (r->problem_text[0])
		mp_buf_printf(out, "Problem:       %s\n", r->problem_text);
	mp_buf_printf(out, "SPF:           %s (%s%s%s)\n", mp_spf_result_str(r->spf.result),
	    r->spf.identity[0] ? r->spf.identity : "-", r->spf.reason[0] ? ": " : "",
	    r->spf.reason);
	if (r->spf.explanation[0])
		mp_buf_printf(out, "SPF exp:       %s\n", r->spf.explanation);
	print_dkim(r, out);
	mp_buf_printf(out, "DMARC:         %s", mp_dmarc_result_str(r->dmarc_result));
	if (d->record_found)
		mp_buf_printf(out, " (%s=%s from _dmarc.%s%s, disposition %s)",
		    d->policy_tag != NULL ? d->policy_tag : "p",
		    mp_dmarc_policy_str(d->policy), d->policy_domain,
		    d->from_psd ? ", public suffix domain" :
		    d->from_org ? ", organizational domain" : "",
		    mp_dmarc_policy_str(d->disposition));
	mp_buf_printf(out, "\n               %s\n", d->reason);
	if (d->note[0])
		mp_buf_printf(out, "               %s\n", d->note);
	if (d->org_domain[0])
		mp_buf_printf(out, "Org domain:    %s (RFC 9989 tree walk)\n", d->org_domain);
	mp_buf_printf(out, "DMARC lookups: %u\n", r->dmarc_queries);
	if (d->record_found)
		mp_buf_printf(out, "DMARC record:  %s\n", d->record);
	mp_buf_printf(out, "Alignment:     SPF %s, DKIM %s\n",
	    d->spf_aligned ? "aligned" : "not aligned", dkim_alignment(r));
	if (dec != NULL)
		mp_buf_printf(out, "Action:        %s (%s)\n", mp_action_str(dec->action),
		    dec->reply);
	if (r->has_posture)
		mp_posture_print(&r->posture, out);
	mp_buf_printf(out, "Authentication-Results: %s\n", mp_verdict_authres(v));
	mp_buf_printf(out, "Time:          %llu ms\n", r->elapsed_ms);
}

/* Every signature verified here, in header order ([] when none or not verified). */
static json_t *
dkim_json(const struct mp_result *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < r->ndkim_sig && i < MP_DKIM_MAX; i++) {
		const struct mp_dkim_sig *s = &r->dkim_sig[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:b, s:b, s:b}",
		    "d", s->domain, "s", s->selector, "b", s->b, "algorithm", s->algorithm,
		    "key_bits", (json_int_t)s->key_bits, "result", mp_dkim_result_str(s->result),
		    "reason", s->reason, "aligned", r->dkim_sig_aligned[i], "checked", s->checked,
		    "body_truncated", s->body_truncated);

		/* NULL only for text that is not UTF-8; dkim.h keeps it printable. */
		if (o != NULL)
			json_array_append_new(a, o);
	}
	return a;
}

char *
mp_verdict_json(const struct mp_verdict *v, const struct mp_decision *dec)
{
	const struct mp_result *r = mp_verdict_result(v);
	const struct mp_dmarc_outcome *d = &r->dmarc;
	json_t *root;
	char *s;

	root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, "
	    "s:{s:s, s:s, s:s, s:s, s:s, s:s}, "
	    "s:{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:b, s:b, s:s, s:s, s:s, s:I}, "
	    "s:s, s:b, s:o}",
	    "client_ip", r->ip, "helo", r->helo_shown, "mail_from", r->mail_from_shown,
	    "from_domain", r->from_domain, "problem", r->problem_text,
	    "elapsed_ms", (json_int_t)r->elapsed_ms,
	    "spf", "result", mp_spf_result_str(r->spf.result), "domain", r->spf.domain,
	    "dmarc_domain", r->spf.dmarc_domain, "identity", r->spf.identity, "reason", r->spf.reason,
	    "explanation", r->spf.explanation,
	    "dmarc", "result", mp_dmarc_result_str(r->dmarc_result),
	    "policy", mp_dmarc_policy_str(d->policy),
	    "disposition", mp_dmarc_policy_str(d->disposition),
	    "policy_tag", d->policy_tag != NULL ? d->policy_tag : "",
	    "policy_domain", d->policy_domain, "from_org", d->from_org, "from_psd", d->from_psd,
	    "org_domain", d->org_domain, "record", d->record,
	    "spf_aligned", d->spf_aligned, "dkim_aligned", d->dkim_aligned,
	    "reason", d->reason, "note", d->note, "discovery_method", "treewalk",
	    "lookups", (json_int_t)r->dmarc_queries,
	    "authentication_results", mp_verdict_authres(v),
	    "dkim_verified", r->dkim_verified, "dkim", dkim_json(r));
	if (root == NULL)
		return xstrdup("{}");	/* only if a string was not UTF-8; they are printable */
	if (r->has_posture)
		json_object_set_new(root, "posture", mp_posture_json(&r->posture));
	if (dec != NULL)
		json_object_set_new(root, "action", json_pack("{s:s, s:s}", "action",
		    mp_action_str(dec->action), "reason", dec->reply));
	s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	return s ? s : xstrdup("{}");
}
