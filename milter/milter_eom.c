/*
 * milter_eom: end of message. Evaluates, deletes forged
 * Authentication-Results, inserts ours, applies the action, hands the
 * record to the store and logs one line.
 *
 * Mail must never be lost because of us: every path through eom ends in
 * an answer, and an internal problem answers with [milter] on_error.
 * But no bound and no failure lets a message through unevaluated or
 * with a forged result of ours in it, whatever on_error says:
 * - an identity past its bound (HELO, MAIL FROM, see ctx.h) is refused
 *   (5xx at MAIL, or at eom when the MTA does not wait for our MAIL
 *   reply), never cut;
 * - forged Authentication-Results that cannot all be deleted (too many
 *   to track, or smfi_chgheader fails) mean a tempfail;
 * - a message without a context (no configuration loaded) is tempfailed;
 * - a quarantine that cannot be applied is tempfailed.
 * on_error is left only for failing to add our own headers to a message
 * whose verdict is accept, once every forged result is deleted: then
 * nothing of ours, true or forged, vouches for it. README ("Bounds")
 * lists every bound and what happens past it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authres.h"
#include "ctx.h"
#include "log.h"
#include "metrics.h"
#include "milter_int.h"
#include "record.h"
#include "store.h"
#include "util.h"

/*
 * Splits "550 5.7.1 text" into its parts for smfi_setreply. The text is
 * made printable and '%' doubled (libmilter treats the text as a format).
 * Falls back to defaults when the reply does not have the expected class.
 */
static void
split_reply(const char *reply, char cls, char code[4], char xcode[16], struct mp_buf *text)
{
	const char *p = reply;
	struct mp_buf raw = MP_BUF_INIT;
	size_t n;

	mp_strlcpy(code, cls == '5' ? "550" : "451", 4);
	mp_strlcpy(xcode, cls == '5' ? "5.7.1" : "4.7.1", 16);
	if (p[0] == cls && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
	    p[3] == ' ') {
		memcpy(code, p, 3);
		code[3] = '\0';
		p += 4;
		n = strspn(p, "0123456789.");
		if (n >= 5 && n < 16 && p[0] == cls && p[n] == ' ') {
			memcpy(xcode, p, n);
			xcode[n] = '\0';
			p += n + 1;
		}
	}
	mp_printable(&raw, p, strlen(p), MP_SHOW_TEXT);
	for (const char *s = mp_buf_str(&raw); *s; s++) {
		if (*s == '%')
			mp_buf_putc(text, '%');
		mp_buf_putc(text, *s);
	}
	if (text->len == 0)
		mp_buf_puts(text, cls == '5' ? "Message rejected" : "Try again later");
	mp_buf_free(&raw);
}

static void
received_spf(const struct conn *c, const struct msg *m, const struct mp_verdict *v,
    struct mp_buf *out)
{
	const struct mp_spf_outcome *spf = mp_verdict_spf(v);

	mp_buf_printf(out, "%s (%s: ", mp_spf_result_str(spf->result), m->eng->authserv_id);
	mp_header_comment(out, spf->reason[0] ? spf->reason : "no reason given");
	mp_buf_printf(out, ")\n\tclient-ip=%s;", c->ip);
	if (m->mail_from_len) {
		mp_buf_puts(out, " envelope-from=");
		mp_authres_put_value(out, m->mail_from);
		mp_buf_putc(out, ';');
	}
	if (c->helo[0]) {
		mp_buf_puts(out, " helo=");
		mp_authres_put_value(out, c->helo);
		mp_buf_putc(out, ';');
	}
	mp_buf_printf(out, "\n\treceiver=%s; identity=mailfrom", m->eng->authserv_id);
}

struct outcome {
	const char *qid;
	enum mp_action action;     /* what was done (dry run: what would have been) */
	const char *how;           /* for the log: "" or " (on_error)" */
	char note[256];            /* for the log: why, problems */
};

/*
 * The DKIM results for the log line: nothing when DKIM was not verified
 * here, " dkim=none" for an unsigned message, else each signature with
 * its reason (a revoked key and a missing one read apart here too).
 */
static void
log_dkim(const struct mp_verdict *v, struct mp_buf *out)
{
	const struct mp_result *r = v != NULL ? mp_verdict_result(v) : NULL;

	if (r == NULL || !r->dkim_verified)
		return;
	if (r->ndkim_sig == 0) {
		mp_buf_puts(out, " dkim=none");
		return;
	}
	mp_buf_puts(out, " dkim=\"");
	for (size_t i = 0; i < r->ndkim_sig && i < MP_DKIM_MAX; i++) {
		const struct mp_dkim_sig *s = &r->dkim_sig[i];

		mp_buf_printf(out, "%s%s d=%s s=%s%s", i > 0 ? "; " : "",
		    mp_dkim_result_str(s->result), s->domain[0] ? s->domain : "-",
		    s->selector[0] ? s->selector : "-", r->dkim_sig_aligned[i] ? " aligned" : "");
		if (s->reason[0])
			mp_buf_printf(out, " (%s)", s->reason);
	}
	mp_buf_putc(out, '"');
}

static void
log_line(const struct conn *c, const struct msg *m, const struct mp_verdict *v,
    const struct outcome *o, unsigned long long ms)
{
	/* Display copies, escaped and cut: for this log line only. */
	struct mp_buf mf_shown = MP_BUF_INIT, helo_shown = MP_BUF_INIT, dm = MP_BUF_INIT;
	struct mp_buf dk = MP_BUF_INIT;
	const struct mp_posture *p = NULL;
	const char *problem = "";
	char posture[32] = "-";

	mp_printable(&mf_shown, m->mail_from, m->mail_from_len, MP_SHOW_MAILBOX);
	mp_printable(&helo_shown, c->helo, strlen(c->helo), MP_SHOW_LINE);
	if (v) {
		const struct mp_dmarc_outcome *d = mp_verdict_dmarc(v);

		mp_buf_puts(&dm, mp_dmarc_result_str(mp_verdict_dmarc_result(v)));
		if (d->record_found)
			mp_buf_printf(&dm, " (p=%s dis=%s)", mp_dmarc_policy_str(d->policy),
			    mp_dmarc_policy_str(d->disposition));
		p = mp_verdict_posture(v);
		if (p)
			snprintf(posture, sizeof(posture), "%d/%s%s", p->score, p->grade,
			    p->complete ? "" : "?");
		problem = mp_verdict_problem(v);
	} else {
		mp_buf_puts(&dm, "-");
	}
	log_dkim(v, &dk);
	mp_log(LOG_INFO, "%s: client=%s[%s] helo=%s mailfrom=<%s> from=%s spf=%s dmarc=%s "
	    "action=%s%s posture=%s ms=%llu%s%s%s%s%s",
	    o->qid, c->host[0] == '[' ? "unknown" : c->host, c->ip,
	    helo_shown.len ? mp_buf_str(&helo_shown) : "-", mp_buf_str(&mf_shown),
	    v && mp_verdict_from_domain(v)[0] ? mp_verdict_from_domain(v) : "-",
	    v ? mp_spf_result_str(mp_verdict_spf(v)->result) : "-", mp_buf_str(&dm),
	    mp_action_str(o->action), o->how, posture, ms, mp_buf_str(&dk),
	    problem[0] ? " problem=\"" : "", problem, problem[0] ? "\"" : "",
	    o->note);
	mp_buf_free(&dk);
	mp_buf_free(&mf_shown);
	mp_buf_free(&helo_shown);
	mp_buf_free(&dm);
}

static void
note(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends to the log note; a note too long for it is cut (display only). */
static void
note(struct outcome *o, const char *fmt, ...)
{
	size_t n = strlen(o->note);
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(o->note + n, sizeof(o->note) - n, fmt, ap);
	va_end(ap);
}

/*
 * A genuine internal problem on a message that carries no forged result
 * of ours any more and no result of ours either: [milter] on_error
 * decides. Every caller has made sure that accepting cannot deliver a
 * forged result or skip a refusal or a quarantine.
 */
static sfsistat
on_error(SMFICTX *ctx, const struct msg *m, struct outcome *o, const char *why)
{
	note(o, " error=\"%s\"", why);
	if (m->eng->on_error_tempfail) {
		o->action = MP_ACTION_TEMPFAIL;
		o->how = " (on_error)";
		(void)smfi_setreply(ctx, "451", "4.3.0",
		    "Temporary local problem checking the message, try again later");
		return SMFIS_TEMPFAIL;
	}
	o->action = MP_ACTION_ACCEPT;
	o->how = " (on_error)";
	return SMFIS_ACCEPT;
}

/* A problem after which accepting could let a spoof through: tempfail,
 * whatever on_error, dry_run or a skip rule say. */
static sfsistat
must_tempfail(SMFICTX *ctx, struct outcome *o, const char *xcode, const char *text,
    const char *why)
{
	note(o, " error=\"%s\"", why);
	o->action = MP_ACTION_TEMPFAIL;
	o->how = "";
	(void)smfi_setreply(ctx, "451", (char *)xcode, (char *)text);
	return SMFIS_TEMPFAIL;
}

static bool
delete_one(unsigned pos, void *arg)
{
	return smfi_chgheader(arg, "Authentication-Results", (int)pos, NULL) == MI_SUCCESS;
}

/*
 * Deletes every forged A-R field, the highest position first: the
 * positions of those before it then stay valid however the MTA
 * renumbers. Any failure, or a forged field past what we track, ends
 * in a tempfail (*r set, false returned): a message must never leave
 * with a forged result of ours, and the MTA drops the deletions already
 * sent when the message is refused. Notes the count in o.
 */
static bool
delete_forged(SMFICTX *ctx, const struct msg *m, struct outcome *o, sfsistat *r)
{
	if (m->forged_overflow) {
		note(o, " forged_ar=%zu+ ar_fields_past=%u", m->nforged, MP_AR_TRACK_MAX);
		*r = must_tempfail(ctx, o, "4.7.1", "Too many Authentication-Results header fields",
		    "forged Authentication-Results past the positions tracked");
		return false;
	}
	if (!msg_each_forged(m, delete_one, ctx)) {
		note(o, " forged_ar=%zu", m->nforged);
		*r = must_tempfail(ctx, o, "4.7.1",
		    "Cannot remove forged Authentication-Results, try again later",
		    "could not delete a forged Authentication-Results");
		return false;
	}
	if (m->nforged)
		note(o, " forged_ar_deleted=%zu", m->nforged);
	mp_metrics_add(MP_M_FORGED_AR, m->nforged);
	return true;
}

/* A message that a skip rule exempts: forged results go, nothing else. */
static sfsistat
eom_skipped(SMFICTX *ctx, const struct conn *c, const struct msg *m, struct outcome *o)
{
	struct mp_buf mf_shown = MP_BUF_INIT;
	sfsistat r = SMFIS_ACCEPT;

	(void)delete_forged(ctx, m, o, &r);
	mp_printable(&mf_shown, m->mail_from, m->mail_from_len, MP_SHOW_MAILBOX);
	mp_log(LOG_INFO, "%s: client=%s[%s] mailfrom=<%s> skipped: %s%s%s%s",
	    o->qid, c->host[0] == '[' ? "unknown" : c->host, c->ip[0] ? c->ip : "-",
	    mp_buf_str(&mf_shown), m->skip_why, o->note,
	    r == SMFIS_ACCEPT ? "" : " action=", r == SMFIS_ACCEPT ? "" : mp_action_str(o->action));
	mp_buf_free(&mf_shown);
	return r;
}

/*
 * Inserts a header field of ours at the top. When the MTA keeps the
 * leading space of values (SMFIP_HDR_LEADSPC), it expects it in what we
 * add as well, or writes "Name:value".
 */
static int
insert_header(SMFICTX *ctx, const struct conn *c, const char *name, const char *value)
{
	char *spaced;
	int rc;

	if (!c->leadspc)
		return smfi_insheader(ctx, 0, (char *)name, (char *)value);
	spaced = xasprintf(" %s", value);
	rc = smfi_insheader(ctx, 0, (char *)name, spaced);
	free(spaced);
	return rc;
}

/*
 * An accepted or quarantined message: forged results go, ours go in,
 * then the action. Past a failure to delete, or to quarantine, it is
 * tempfailed; past a failure to add our own headers (forged ones gone,
 * nothing left that vouches for it) on_error decides, unless the
 * verdict was quarantine, which must not turn into delivery.
 */
static sfsistat
eom_deliver(SMFICTX *ctx, const struct conn *c, const struct msg *m,
    const struct mp_verdict *v, const struct mp_decision *d, struct outcome *o)
{
	const struct mp_engine *e = m->eng;
	bool quarantine = !e->dry_run && d->action == MP_ACTION_QUARANTINE;
	sfsistat r;

	/* Forged results go first (see delete_forged). */
	if (!delete_forged(ctx, m, o, &r))
		return r;
	if (e->received_spf) {
		struct mp_buf rs = MP_BUF_INIT;
		int rc;

		received_spf(c, m, v, &rs);
		rc = insert_header(ctx, c, "Received-SPF", mp_buf_str(&rs));
		mp_buf_free(&rs);
		if (rc != MI_SUCCESS)
			return quarantine ? must_tempfail(ctx, o, "4.3.0", "Try again later",
			    "could not add Received-SPF before a quarantine") :
			    on_error(ctx, m, o, "could not add Received-SPF");
	}
	if (insert_header(ctx, c, "Authentication-Results", mp_verdict_authres(v)) != MI_SUCCESS)
		return quarantine ? must_tempfail(ctx, o, "4.3.0", "Try again later",
		    "could not add Authentication-Results before a quarantine") :
		    on_error(ctx, m, o, "could not add Authentication-Results");

	if (e->dry_run) {
		o->action = d->action;
		note(o, " dry_run=yes%s", d->action == MP_ACTION_ACCEPT ? "" : " (not applied)");
	} else if (quarantine) {
		if (smfi_quarantine(ctx, (char *)d->reply) != MI_SUCCESS)
			return must_tempfail(ctx, o, "4.3.0", "Try again later",
			    "could not quarantine");
		o->action = MP_ACTION_QUARANTINE;
	} else {
		o->action = MP_ACTION_ACCEPT;
	}
	return SMFIS_ACCEPT;
}

/*
 * skip_mail_from holds only for a sender SPF vouches for: a pass for the
 * domain of the address the rule matched (SPF checks the domain after
 * its last '@', as the rule does; a MAIL FROM without '@' has none).
 * Notes in o why the rule did not apply.
 */
static bool
skip_mail_from_proven(const struct mp_verdict *v, struct msg *m, struct outcome *o)
{
	const struct mp_spf_outcome *spf = mp_verdict_spf(v);

	if (spf->result == MP_SPF_PASS && spf->dmarc_domain[0] != '\0') {
		mp_strlcpy(m->skip_why, "MAIL FROM domain in skip_mail_from, SPF pass",
		    sizeof(m->skip_why));
		mp_metrics_inc(MP_M_SKIP_MAIL_FROM);
		return true;
	}
	note(o, " skip_mail_from=not_applied (spf=%s)", mp_spf_result_str(spf->result));
	return false;
}

static sfsistat
eom_message(SMFICTX *ctx, struct conn *c, struct msg *m, struct outcome *o)
{
	const struct mp_engine *e = m->eng;
	struct mp_message in = {
		.ip = c->ip,
		.helo = c->helo,
		.mail_from = m->mail_from,
		.headers = m->hdr,
		.nheaders = m->nhdr,
		.from_incomplete = m->from_cut > 0 || m->from_overflow > 0,
		.want_posture = true,
		.dkim = m->dkim,
	};
	struct mp_verdict *v;
	struct mp_decision d;
	unsigned long long start = mp_now_ms(), start_us = mp_metrics_clock_us();
	sfsistat r;

	if (m->from_cut || m->from_overflow || m->ar_overflow)
		note(o, " over_cap=\"%zu header fields, %zu bytes; %zu From (%zu cut, %zu not "
		    "kept), A-R past cap %zu\"", m->nseen, m->bytes_seen, m->nfrom, m->from_cut,
		    m->from_overflow, m->ar_overflow);
	/* Before evaluating: the answer would be a tempfail anyway. */
	if (m->forged_overflow) {
		(void)delete_forged(ctx, m, o, &r);
		log_line(c, m, NULL, o, mp_now_ms() - start);
		return r;
	}

	/* An MTA that sent no end of header: the signatures are read now. */
	msg_dkim_eoh(m);
	v = mp_evaluate(e->ev, &in);
	if (m->skip_if_spf && skip_mail_from_proven(v, m, o)) {
		r = eom_skipped(ctx, c, m, o);
		mp_verdict_free(&v);
		return r;
	}
	mp_decide(e->policy, mp_verdict_result(v), &d);

	if (!e->dry_run && (d.action == MP_ACTION_REJECT || d.action == MP_ACTION_TEMPFAIL)) {
		char cls = d.action == MP_ACTION_REJECT ? '5' : '4';
		char code[4], xcode[16];
		struct mp_buf text = MP_BUF_INIT;

		split_reply(d.reply, cls, code, xcode, &text);
		if (smfi_setreply(ctx, code, xcode, (char *)mp_buf_str(&text)) != MI_SUCCESS)
			mp_log(LOG_WARNING, "%s: smfi_setreply failed: the MTA answers with "
			    "its default text", o->qid);
		mp_buf_free(&text);
		o->action = d.action;
		note(o, " reply=\"%s\"", d.reply);
		r = d.action == MP_ACTION_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
	} else {
		r = eom_deliver(ctx, c, m, v, &d, o);
	}

	/* Off the SMTP path: a bounded queue that never blocks (store.c). */
	if (e->store != NULL) {
		struct mp_store_record rec;

		mp_record_build(&rec, mp_verdict_result(v), &in, o->action, e->hostname,
		    strcmp(o->qid, "NOQUEUE") ? o->qid : "", time(NULL));
		if (!mp_store_submit(e->store, &rec))
			mp_metrics_inc(MP_M_REDIS_DROP_FULL);
	}
	mp_metrics_message(mp_verdict_result(v), o->action, start_us);
	log_line(c, m, v, o, mp_now_ms() - start);
	mp_verdict_free(&v);
	return r;
}

sfsistat
milter_eom(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	struct outcome o;
	char qid[MP_QID_MAX];
	sfsistat r;

	memset(&o, 0, sizeof(o));
	o.how = "";
	milter_symval(ctx, "i", qid, sizeof(qid));
	o.qid = strcmp(qid, "-") ? qid : "NOQUEUE";
	/* No message context: nothing was checked, so nothing is let through. */
	if (c == NULL || c->msg == NULL)
		return milter_no_engine(ctx, o.qid);
	o.action = MP_ACTION_ACCEPT;
	o.how = "";
	/* Refused for its HELO or MAIL FROM, where the MTA did not wait for
	 * our reply to MAIL: refused here instead. */
	if (c->msg->refusal != MSG_OK)
		r = milter_refuse(ctx, c, c->msg, o.qid, false);
	else if (c->msg->skipped)
		r = eom_skipped(ctx, c, c->msg, &o);
	else
		r = eom_message(ctx, c, c->msg, &o);
	msg_free(&c->msg);
	return r;
}
