/*
 * milter: the libmilter callbacks.
 *
 * connect and helo record the client; envfrom starts the message under
 * the current engine generation and applies the skip rules; header keeps
 * From and Authentication-Results (capped, see ctx.c); eom evaluates,
 * deletes forged Authentication-Results, inserts ours and applies the
 * action. A skipped message is not evaluated, but its forged
 * Authentication-Results are deleted all the same. The MTA is asked not to send the body and unknown commands, and
 * on a unix socket not to send what we never read nor to wait for our
 * reply where none is needed (see mlfi_negotiate for why not over TCP).
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "authres.h"
#include "record.h"
#include "store.h"
#include "ctx.h"
#include "log.h"
#include "milter.h"
#include "util.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Set once at start-up: the milter socket is a unix socket (see negotiate). */
static bool local_socket;

void
mp_milter_set_local_socket(bool local)
{
	local_socket = local;
}

static struct conn *
conn_get(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL) {
		c = conn_new();
		if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
			conn_free(&c);
			return NULL;
		}
	}
	return c;
}

/* A macro value made printable and bounded, or "-" when absent. */
static void
symval(SMFICTX *ctx, const char *name, char *out, size_t outlen)
{
	const char *v = smfi_getsymval(ctx, (char *)name);
	struct mp_buf b = MP_BUF_INIT;

	if (v == NULL || *v == '\0') {
		mp_strlcpy(out, "-", outlen);
		return;
	}
	mp_printable(&b, v, strlen(v), outlen > 8 ? outlen - 8 : 1);
	mp_strlcpy(out, mp_buf_str(&b), outlen);
	mp_buf_free(&b);
}

static sfsistat
mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	const unsigned long need = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
	const unsigned long want = need | SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
	/*
	 * Over TCP only the body and unknown commands are skipped, and every
	 * command is answered. Measured with tests/bench/throughput: when
	 * Postfix may send without waiting for a reply (SMFIP_NR_*), or sends
	 * the macros of a skipped stage (SMFIP_NORCPT, NODATA, NOEOH) on
	 * their own, its next small write waits for our delayed ACK under
	 * Nagle's algorithm: about 40 ms per message (49 ms against 7 ms for
	 * one message). A unix socket has no Nagle, so there we skip every
	 * stage we do not read and answer only option negotiation and end of
	 * message: fewer round trips, and smtpd never waits for us before
	 * DATA (612 against 532 messages per second with connect, HELO and
	 * headers unanswered; MAIL joined them later, see README).
	 */
	const unsigned long skip = SMFIP_NOBODY | SMFIP_NOUNKNOWN | (local_socket ?
	    SMFIP_NORCPT | SMFIP_NODATA | SMFIP_NOEOH : 0);
	const unsigned long noreply = local_socket ?
	    SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR : 0;
	struct conn *c;

	(void)f2;
	(void)f3;
	if ((f0 & need) != need) {
		mp_log(LOG_ERR, "the MTA does not let a milter add and change headers: "
		    "mailposture-milter will not filter its mail");
		return SMFIS_REJECT;
	}
	c = conn_get(ctx);
	if (c == NULL)
		return SMFIS_REJECT;
	*pf0 = f0 & want;
	*pf1 = f1 & (skip | noreply);
	*pf2 = 0;
	*pf3 = 0;
	c->nr_conn = (*pf1 & SMFIP_NR_CONN) != 0;
	c->nr_helo = (*pf1 & SMFIP_NR_HELO) != 0;
	c->nr_mail = (*pf1 & SMFIP_NR_MAIL) != 0;
	c->nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
	if (*pf0 & SMFIF_SETSYMLIST) {
		/* Only what we read; the MTA's defaults send much more. */
		(void)smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen}");
		(void)smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct conn *c = conn_get(ctx);
	struct mp_buf b = MP_BUF_INIT;

	/* (Only when libmilter has no context at all: fail closed.) */
	if (c == NULL)
		return SMFIS_TEMPFAIL;
	c->ip[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, c->ip, sizeof(c->ip));
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		/* An IPv4 client on a dual-stack socket: SPF wants the IPv4 form. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], c->ip, sizeof(c->ip));
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, c->ip, sizeof(c->ip));
	}
	if (hostname)
		mp_printable(&b, hostname, strlen(hostname), MP_SHOW_LINE);
	mp_strlcpy(c->host, b.len ? mp_buf_str(&b) : "unknown", sizeof(c->host));
	mp_buf_free(&b);
	return c->nr_conn ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_helo(SMFICTX *ctx, char *helo)
{
	struct conn *c = conn_get(ctx);

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	/* Whole, or noted as too long and its messages refused at MAIL. */
	conn_set_helo(c, helo);
	return c->nr_helo ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* Why this message is not evaluated, or NULL. */
static const char *
skip_reason(SMFICTX *ctx, const struct conn *c, const struct msg *m, char *buf, size_t len)
{
	const struct mp_engine *e = m->eng;
	const char *auth;

	if (c->ip[0] == '\0')
		return "no client IP address";
	if (mp_netlist_match(e->skip_networks, c->ip))
		return "client in skip_networks";
	if (e->skip_authenticated) {
		auth = smfi_getsymval(ctx, "{auth_authen}");
		if (auth != NULL && *auth != '\0') {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, auth, strlen(auth), MP_SHOW_SETTING);
			snprintf(buf, len, "authenticated as %s", mp_buf_str(&b));
			mp_buf_free(&b);
			return buf;
		}
	}
	return NULL;
}

/* What a refused message is told, at MAIL (mail) or at eom (eom). */
static const struct {
	const char *mail, *eom, *xcode, *text, *why;
} refusals[] = {
	[MSG_MAILFROM_TOO_LONG] = { "501", "550", "5.1.7", "Sender address too long",
	    "MAIL FROM longer than " STR(MP_MAILFROM_MAX) " bytes" },
	[MSG_HELO_TOO_LONG] = { "501", "550", "5.5.2", "HELO name too long",
	    "HELO longer than " STR(MP_HELO_MAX) " bytes" },
};

/* Logs a message refused for one of its identities (m->refusal). */
static void
log_refusal(const struct conn *c, const struct msg *m, const char *qid, const char *code)
{
	mp_log(LOG_INFO, "%s: client=%s[%s] refused: %s action=reject reply=\"%s %s %s\"",
	    qid, c->host[0] == '[' ? "unknown" : c->host, c->ip[0] ? c->ip : "-",
	    refusals[m->refusal].why, code, refusals[m->refusal].xcode,
	    refusals[m->refusal].text);
}

/* Nothing to evaluate under: tempfail, never accept unchecked. */
static sfsistat
no_engine(SMFICTX *ctx, const char *qid)
{
	mp_log(LOG_WARNING, "%s: no message context (no configuration loaded, shutting "
	    "down?): message tempfailed", qid);
	(void)smfi_setreply(ctx, "451", "4.3.2", "Filter not ready, try again later");
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *c = conn_get(ctx);
	struct msg *m;
	const char *why;
	char buf[128], qid[MP_QID_MAX];

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	symval(ctx, "i", qid, sizeof(qid));
	m = msg_start(c);
	if (m == NULL) {
		/* Without a reply to MAIL, eom finds no message and refuses it. */
		return c->nr_mail ? SMFIS_NOREPLY : no_engine(ctx, strcmp(qid, "-") ? qid :
		    "NOQUEUE");
	}
	msg_set_mail_from(m, c, argv ? argv[0] : NULL);
	if (m->refusal != MSG_OK) {
		/* Refused now when the MTA reads our reply, else at eom. */
		if (c->nr_mail)
			return SMFIS_NOREPLY;
		log_refusal(c, m, strcmp(qid, "-") ? qid : "NOQUEUE", refusals[m->refusal].mail);
		(void)smfi_setreply(ctx, (char *)refusals[m->refusal].mail,
		    (char *)refusals[m->refusal].xcode, (char *)refusals[m->refusal].text);
		msg_free(&c->msg);
		return SMFIS_REJECT;
	}

	why = skip_reason(ctx, c, m, buf, sizeof(buf));
	if (why != NULL) {
		/*
		 * Not evaluated, but not accepted here either: headers that
		 * carry our authserv-id must still go (RFC 8601 section 5), or
		 * a trusted client could pass a forged result on. The header
		 * callbacks note them, eom deletes them and logs the skip.
		 */
		m->skipped = true;
		mp_strlcpy(m->skip_why, why, sizeof(m->skip_why));
	} else if (mp_domlist_match_address(m->eng->skip_mail_from, m->mail_from)) {
		/*
		 * The envelope sender is the client's claim: anybody can say
		 * MAIL FROM:<x@lists.example.net>. So the message is evaluated,
		 * and skipped only if SPF passed for that very domain (eom).
		 */
		m->skip_if_spf = true;
	}
	return c->nr_mail ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	/* A message refused for its HELO or MAIL FROM keeps nothing. */
	if (c->msg && c->msg->refusal == MSG_OK && name && value)
		msg_add_header(c->msg, name, value);
	return c->nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

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

/* Text for a header comment: printable, without the characters that
 * would end or nest the comment. */
static void
comment_text(struct mp_buf *out, const char *s)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, s, strlen(s), MP_SHOW_LINE);
	for (const char *p = mp_buf_str(&b); *p; p++)
		mp_buf_putc(out, (*p == '(' || *p == ')' || *p == '\\') ? ' ' : *p);
	mp_buf_free(&b);
}

static void
received_spf(const struct conn *c, const struct msg *m, const struct mp_verdict *v,
    struct mp_buf *out)
{
	const struct mp_spf_outcome *spf = mp_verdict_spf(v);

	mp_buf_printf(out, "%s (%s: ", mp_spf_result_str(spf->result), m->eng->authserv_id);
	comment_text(out, spf->reason[0] ? spf->reason : "no reason given");
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

static void
log_line(const struct conn *c, const struct msg *m, const struct mp_verdict *v,
    const struct outcome *o, unsigned long long ms)
{
	/* Display copies, escaped and cut: for this log line only. */
	struct mp_buf mf_shown = MP_BUF_INIT, helo_shown = MP_BUF_INIT, dm = MP_BUF_INIT;
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
	mp_log(LOG_INFO, "%s: client=%s[%s] helo=%s mailfrom=<%s> from=%s spf=%s dmarc=%s "
	    "action=%s%s posture=%s ms=%llu%s%s%s%s",
	    o->qid, c->host[0] == '[' ? "unknown" : c->host, c->ip,
	    helo_shown.len ? mp_buf_str(&helo_shown) : "-", mp_buf_str(&mf_shown),
	    v && mp_verdict_from_domain(v)[0] ? mp_verdict_from_domain(v) : "-",
	    v ? mp_spf_result_str(mp_verdict_spf(v)->result) : "-", mp_buf_str(&dm),
	    mp_action_str(o->action), o->how, posture, ms,
	    problem[0] ? " problem=\"" : "", problem, problem[0] ? "\"" : "",
	    o->note);
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
		rc = smfi_insheader(ctx, 0, "Received-SPF", (char *)mp_buf_str(&rs));
		mp_buf_free(&rs);
		if (rc != MI_SUCCESS)
			return quarantine ? must_tempfail(ctx, o, "4.3.0", "Try again later",
			    "could not add Received-SPF before a quarantine") :
			    on_error(ctx, m, o, "could not add Received-SPF");
	}
	if (smfi_insheader(ctx, 0, "Authentication-Results", (char *)mp_verdict_authres(v)) !=
	    MI_SUCCESS)
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
		.pct_sample = -1,
	};
	struct mp_verdict *v;
	struct mp_decision d;
	unsigned long long start = mp_now_ms();
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
		(void)mp_store_submit(e->store, &rec);
	}
	log_line(c, m, v, o, mp_now_ms() - start);
	mp_verdict_free(&v);
	return r;
}

/* A message refused for its HELO or MAIL FROM, where the MTA did not
 * wait for our reply to MAIL: refused here instead. */
static sfsistat
eom_refused(SMFICTX *ctx, const struct conn *c, const struct msg *m, const char *qid)
{
	log_refusal(c, m, qid, refusals[m->refusal].eom);
	(void)smfi_setreply(ctx, (char *)refusals[m->refusal].eom,
	    (char *)refusals[m->refusal].xcode, (char *)refusals[m->refusal].text);
	return SMFIS_REJECT;
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	struct outcome o;
	char qid[MP_QID_MAX];
	sfsistat r;

	memset(&o, 0, sizeof(o));
	o.how = "";
	symval(ctx, "i", qid, sizeof(qid));
	o.qid = strcmp(qid, "-") ? qid : "NOQUEUE";
	/* No message context: nothing was checked, so nothing is let through. */
	if (c == NULL || c->msg == NULL)
		return no_engine(ctx, o.qid);
	o.action = MP_ACTION_ACCEPT;
	o.how = "";
	if (c->msg->refusal != MSG_OK)
		r = eom_refused(ctx, c, c->msg, o.qid);
	else if (c->msg->skipped)
		r = eom_skipped(ctx, c, c->msg, &o);
	else
		r = eom_message(ctx, c, c->msg, &o);
	msg_free(&c->msg);
	return r;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c)
		msg_free(&c->msg);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	conn_free(&c);
	(void)smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

struct smfiDesc mp_milter_desc = {
	.xxfi_name = "mailposture",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST,
	.xxfi_connect = mlfi_connect,
	.xxfi_helo = mlfi_helo,
	.xxfi_envfrom = mlfi_envfrom,
	.xxfi_envrcpt = NULL,
	.xxfi_header = mlfi_header,
	.xxfi_eoh = NULL,
	.xxfi_body = NULL,
	.xxfi_eom = mlfi_eom,
	.xxfi_abort = mlfi_abort,
	.xxfi_close = mlfi_close,
	.xxfi_unknown = NULL,
	.xxfi_data = NULL,
	.xxfi_negotiate = mlfi_negotiate,
};

void
mp_milter_apply_log(const struct mp_conf *conf)
{
	int level = mp_log_level_from_name(mp_conf_str(conf, "log", "level"));

	if (level >= 0)
		mp_log_set_level(level);
}
