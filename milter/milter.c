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
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "authres.h"
#include "store.h"
#include "ctx.h"
#include "log.h"
#include "milter.h"
#include "util.h"

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

	if (c == NULL)
		return SMFIS_ACCEPT;
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
		mp_printable(&b, hostname, strlen(hostname), 200);
	mp_strlcpy(c->host, b.len ? mp_buf_str(&b) : "unknown", sizeof(c->host));
	mp_buf_free(&b);
	return c->nr_conn ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_helo(SMFICTX *ctx, char *helo)
{
	struct conn *c = conn_get(ctx);

	if (c == NULL)
		return SMFIS_ACCEPT;
	/* Cut, not refused: SPF then judges a name that does not resolve. */
	mp_strlcpy(c->helo, helo ? helo : "", sizeof(c->helo));
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

			mp_printable(&b, auth, strlen(auth), 64);
			snprintf(buf, len, "authenticated as %s", mp_buf_str(&b));
			mp_buf_free(&b);
			return buf;
		}
	}
	if (mp_domlist_match_address(e->skip_mail_from, m->mail_from))
		return "MAIL FROM domain in skip_mail_from";
	return NULL;
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *c = conn_get(ctx);
	struct msg *m;
	const char *a, *why;
	size_t n;
	char buf[128];

	if (c == NULL)
		return SMFIS_ACCEPT;
	m = msg_start(c);
	if (m == NULL) {
		mp_log(LOG_WARNING, "no configuration loaded (shutting down?): message accepted "
		    "unchecked");
		/* Without a reply, eom finds no message and accepts it. */
		return c->nr_mail ? SMFIS_NOREPLY : SMFIS_ACCEPT;
	}
	/* argv[0] is "<addr>"; the null sender is "<>". */
	a = argv && argv[0] ? argv[0] : "";
	n = strlen(a);
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	if (n >= sizeof(m->mail_from)) {
		n = sizeof(m->mail_from) - 1;
		m->mail_from_cut = true;
	}
	memcpy(m->mail_from, a, n);
	m->mail_from[n] = '\0';

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
	}
	return c->nr_mail ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	if (c->msg && name && value)
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
	mp_printable(&raw, p, strlen(p), 400);
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

	mp_printable(&b, s, strlen(s), 200);
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
	if (m->mail_from[0]) {
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
	const char *action;        /* for the log: what was done */
	char note[256];            /* for the log: why, problems */
};

static void
log_line(const struct conn *c, const struct msg *m, const struct mp_verdict *v,
    const struct outcome *o, unsigned long long ms)
{
	struct mp_buf mf = MP_BUF_INIT, helo = MP_BUF_INIT, dm = MP_BUF_INIT;
	const struct mp_posture *p = NULL;
	const char *problem = "";
	char posture[32] = "-";

	mp_printable(&mf, m->mail_from, strlen(m->mail_from), 256);
	mp_printable(&helo, c->helo, strlen(c->helo), 128);
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
	    "action=%s posture=%s ms=%llu%s%s%s%s",
	    o->qid, c->host[0] == '[' ? "unknown" : c->host, c->ip, helo.len ? mp_buf_str(&helo) : "-", mp_buf_str(&mf),
	    v && mp_verdict_from_domain(v)[0] ? mp_verdict_from_domain(v) : "-",
	    v ? mp_spf_result_str(mp_verdict_spf(v)->result) : "-", mp_buf_str(&dm),
	    o->action, posture, ms,
	    problem[0] ? " problem=\"" : "", problem, problem[0] ? "\"" : "",
	    o->note);
	mp_buf_free(&mf);
	mp_buf_free(&helo);
	mp_buf_free(&dm);
}

static sfsistat
on_error(SMFICTX *ctx, const struct msg *m, struct outcome *o, const char *why)
{
	size_t n = strlen(o->note);

	snprintf(o->note + n, sizeof(o->note) - n, " error=\"%s\"", why);
	if (m->eng->on_error_tempfail) {
		o->action = "tempfail (on_error)";
		(void)smfi_setreply(ctx, "451", "4.3.0",
		    "Temporary local problem checking the message, try again later");
		return SMFIS_TEMPFAIL;
	}
	o->action = "accept (on_error)";
	return SMFIS_ACCEPT;
}

/*
 * Deletes the forged A-R fields, the highest position first: the
 * positions of those before it then stay valid however the MTA
 * renumbers. Notes the count in o.
 */
static bool
delete_forged(SMFICTX *ctx, const struct msg *m, struct outcome *o)
{
	size_t n;

	for (size_t i = m->nforged; i-- > 0;) {
		if (smfi_chgheader(ctx, "Authentication-Results", (int)m->forged[i], NULL) !=
		    MI_SUCCESS)
			return false;
	}
	if (m->nforged) {
		n = strlen(o->note);
		snprintf(o->note + n, sizeof(o->note) - n, " forged_ar_deleted=%zu", m->nforged);
	}
	return true;
}

/* A message that a skip rule exempts: forged results go, nothing else. */
static sfsistat
eom_skipped(SMFICTX *ctx, const struct conn *c, const struct msg *m, struct outcome *o)
{
	struct mp_buf pf = MP_BUF_INIT;
	sfsistat r = SMFIS_ACCEPT;

	if (m->forged_overflow)
		r = on_error(ctx, m, o, "too many forged Authentication-Results fields to delete");
	else if (!delete_forged(ctx, m, o))
		r = on_error(ctx, m, o, "could not delete a forged Authentication-Results");
	mp_printable(&pf, m->mail_from, strlen(m->mail_from), 256);
	mp_log(LOG_INFO, "%s: client=%s[%s] mailfrom=<%s> skipped: %s%s%s%s",
	    o->qid, c->host[0] == '[' ? "unknown" : c->host, c->ip[0] ? c->ip : "-",
	    mp_buf_str(&pf), m->skip_why, o->note,
	    r == SMFIS_ACCEPT ? "" : " action=", r == SMFIS_ACCEPT ? "" : o->action);
	mp_buf_free(&pf);
	return r;
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
		.want_posture = true,
		.pct_sample = -1,
	};
	struct mp_verdict *v;
	enum mp_action action;
	const char *reason;
	unsigned long long start = mp_now_ms();
	sfsistat r = SMFIS_CONTINUE;
	size_t n;

	if (m->from_cut || m->from_overflow || m->ar_overflow) {
		n = strlen(o->note);
		snprintf(o->note + n, sizeof(o->note) - n,
		    " over_cap=\"%zu header fields, %zu bytes; %zu From (%zu cut, %zu not kept), "
		    "A-R past cap %zu\"",
		    m->nseen, m->bytes_seen, m->nfrom, m->from_cut, m->from_overflow,
		    m->ar_overflow);
	}
	if (m->mail_from_cut) {
		n = strlen(o->note);
		snprintf(o->note + n, sizeof(o->note) - n, " mailfrom_cut=yes");
	}
	if (m->forged_overflow) {
		r = on_error(ctx, m, o, "too many forged Authentication-Results fields to delete");
		log_line(c, m, NULL, o, mp_now_ms() - start);
		return r;
	}

	v = mp_evaluate(e->ev, &in);
	action = mp_verdict_action(v, &reason);

	if (!e->dry_run && (action == MP_ACTION_REJECT || action == MP_ACTION_TEMPFAIL)) {
		char cls = action == MP_ACTION_REJECT ? '5' : '4';
		char code[4], xcode[16];
		struct mp_buf text = MP_BUF_INIT;

		split_reply(reason, cls, code, xcode, &text);
		if (smfi_setreply(ctx, code, xcode, (char *)mp_buf_str(&text)) != MI_SUCCESS)
			mp_log(LOG_WARNING, "%s: smfi_setreply failed: the MTA answers with "
			    "its default text", o->qid);
		mp_buf_free(&text);
		o->action = action == MP_ACTION_REJECT ? "reject" : "tempfail";
		n = strlen(o->note);
		snprintf(o->note + n, sizeof(o->note) - n, " reply=\"%s\"", reason);
		r = action == MP_ACTION_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
		goto done;
	}

	/* Forged results go first (see delete_forged). */
	if (!delete_forged(ctx, m, o)) {
		r = on_error(ctx, m, o, "could not delete a forged Authentication-Results");
		goto done;
	}
	if (e->received_spf) {
		struct mp_buf rs = MP_BUF_INIT;
		int rc;

		received_spf(c, m, v, &rs);
		rc = smfi_insheader(ctx, 0, "Received-SPF", (char *)mp_buf_str(&rs));
		mp_buf_free(&rs);
		if (rc != MI_SUCCESS) {
			r = on_error(ctx, m, o, "could not add Received-SPF");
			goto done;
		}
	}
	if (smfi_insheader(ctx, 0, "Authentication-Results", (char *)mp_verdict_authres(v)) !=
	    MI_SUCCESS) {
		r = on_error(ctx, m, o, "could not add Authentication-Results");
		goto done;
	}

	if (e->dry_run) {
		o->action = action == MP_ACTION_ACCEPT ? "accept" : mp_action_str(action);
		n = strlen(o->note);
		snprintf(o->note + n, sizeof(o->note) - n, " dry_run=yes%s",
		    action == MP_ACTION_ACCEPT ? "" : " (not applied)");
	} else if (action == MP_ACTION_QUARANTINE) {
		if (smfi_quarantine(ctx, (char *)reason) != MI_SUCCESS) {
			r = on_error(ctx, m, o, "could not quarantine");
			goto done;
		}
		o->action = "quarantine";
	} else {
		o->action = "accept";
	}
	r = SMFIS_ACCEPT;
done:
	/* Off the SMTP path: a bounded queue that never blocks (store.c). */
	if (e->store != NULL) {
		struct mp_store_record rec;

		mp_store_record_from_verdict(&rec, v, &in, e->hostname,
		    strcmp(o->qid, "NOQUEUE") ? o->qid : "", time(NULL));
		rec.action = strcmp(o->action, "reject") == 0 ? MP_ACTION_REJECT :
		    strcmp(o->action, "tempfail") == 0 ? MP_ACTION_TEMPFAIL :
		    strcmp(o->action, "quarantine") == 0 ? MP_ACTION_QUARANTINE : MP_ACTION_ACCEPT;
		(void)mp_store_submit(e->store, &rec);
	}
	log_line(c, m, v, o, mp_now_ms() - start);
	mp_verdict_free(&v);
	return r;
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	struct outcome o;
	char qid[MP_QID_MAX];
	sfsistat r;

	if (c == NULL || c->msg == NULL)
		return SMFIS_CONTINUE;
	memset(&o, 0, sizeof(o));
	symval(ctx, "i", qid, sizeof(qid));
	o.qid = strcmp(qid, "-") ? qid : "NOQUEUE";
	o.action = "accept";
	if (c->msg->skipped)
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
