/*
 * milter: the libmilter callbacks up to the end of the body (end of
 * message is milter_eom.c).
 *
 * connect and helo record the client; envfrom starts the message under
 * the current engine generation and applies the skip rules; header keeps
 * From and Authentication-Results (capped, see ctx.c) and feeds every
 * field to the message's DKIM verifier; eoh lets the verifier read the
 * signatures and prefetch their keys; body feeds the verifier, and
 * answers SMFIS_SKIP at the first chunk of a message that has nothing to
 * verify, so that the MTA stops sending it. A skipped message is not
 * evaluated, but its forged Authentication-Results are deleted all the
 * same. The MTA is asked not to send unknown commands, and on a unix
 * socket not to send what we never read nor to wait for our reply where
 * none is needed (see mlfi_negotiate for why not over TCP).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctx.h"
#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "milter_int.h"
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

void
milter_symval(SMFICTX *ctx, const char *name, char *out, size_t outlen)
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
	 * Over TCP only unknown commands are skipped, and every command is
	 * answered. Measured with tests/bench/throughput: when
	 * Postfix may send without waiting for a reply (SMFIP_NR_*), or sends
	 * the macros of a skipped stage (SMFIP_NORCPT, NODATA, NOEOH) on
	 * their own, its next small write waits for our delayed ACK under
	 * Nagle's algorithm: about 40 ms per message (49 ms against 7 ms for
	 * one message). A unix socket has no Nagle, so there we skip every
	 * stage we do not read and answer only option negotiation and end of
	 * message: fewer round trips, and smtpd never waits for us before
	 * DATA (612 against 532 messages per second with connect, HELO and
	 * headers unanswered; MAIL joined them later, see README). End of
	 * header is read now (DKIM), so it is unanswered there too. The body
	 * is asked for, and always answered: SMFIS_SKIP at its first chunk
	 * stops it for a message that has nothing to verify.
	 */
	const unsigned long skip = SMFIP_NOUNKNOWN | (local_socket ?
	    SMFIP_NORCPT | SMFIP_NODATA : 0);
	const unsigned long noreply = local_socket ?
	    SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_EOH : 0;
	/* Header values with the space after the colon (simple
	 * canonicalization signs it; what we add must then carry it too), and
	 * SMFIS_SKIP to stop a body that is not needed. */
	const unsigned long misc = SMFIP_HDR_LEADSPC | SMFIP_SKIP;
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
	*pf1 = f1 & (skip | noreply | misc);
	*pf2 = 0;
	*pf3 = 0;
	c->nr_conn = (*pf1 & SMFIP_NR_CONN) != 0;
	c->nr_helo = (*pf1 & SMFIP_NR_HELO) != 0;
	c->nr_mail = (*pf1 & SMFIP_NR_MAIL) != 0;
	c->nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
	c->nr_eoh = (*pf1 & SMFIP_NR_EOH) != 0;
	c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	c->can_skip = (*pf1 & SMFIP_SKIP) != 0;
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

/* Why this message is not evaluated (counted by rule), or NULL. */
static const char *
skip_reason(SMFICTX *ctx, const struct conn *c, const struct msg *m, char *buf, size_t len)
{
	const struct mp_engine *e = m->eng;
	const char *auth;

	if (c->ip[0] == '\0')
		return mp_metrics_skip(MP_M_SKIP_NO_IP, "no client IP address");
	if (mp_netlist_match(e->skip_networks, c->ip))
		return mp_metrics_skip(MP_M_SKIP_NETWORKS, "client in skip_networks");
	if (e->skip_authenticated) {
		auth = smfi_getsymval(ctx, "{auth_authen}");
		if (auth != NULL && *auth != '\0') {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, auth, strlen(auth), MP_SHOW_SETTING);
			snprintf(buf, len, "authenticated as %s", mp_buf_str(&b));
			mp_buf_free(&b);
			return mp_metrics_skip(MP_M_SKIP_AUTHENTICATED, buf);
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

sfsistat
milter_refuse(SMFICTX *ctx, const struct conn *c, const struct msg *m, const char *qid,
    bool at_mail)
{
	const char *code = at_mail ? refusals[m->refusal].mail : refusals[m->refusal].eom;

	mp_log(LOG_INFO, "%s: client=%s[%s] refused: %s action=reject reply=\"%s %s %s\"",
	    qid, c->host[0] == '[' ? "unknown" : c->host, c->ip[0] ? c->ip : "-",
	    refusals[m->refusal].why, code, refusals[m->refusal].xcode,
	    refusals[m->refusal].text);
	(void)smfi_setreply(ctx, (char *)code, (char *)refusals[m->refusal].xcode,
	    (char *)refusals[m->refusal].text);
	return SMFIS_REJECT;
}

sfsistat
milter_no_engine(SMFICTX *ctx, const char *qid)
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
	milter_symval(ctx, "i", qid, sizeof(qid));
	m = msg_start(c);
	if (m == NULL) {
		/* Without a reply to MAIL, eom finds no message and refuses it. */
		return c->nr_mail ? SMFIS_NOREPLY : milter_no_engine(ctx, strcmp(qid, "-") ? qid :
		    "NOQUEUE");
	}
	msg_set_mail_from(m, c, argv ? argv[0] : NULL);
	if (m->refusal != MSG_OK) {
		/* Refused now when the MTA reads our reply, else at eom. */
		if (c->nr_mail)
			return SMFIS_NOREPLY;
		(void)milter_refuse(ctx, c, m, strcmp(qid, "-") ? qid : "NOQUEUE", true);
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
	if (!m->skipped)
		msg_dkim_start(m);
	return c->nr_mail ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	/*
	 * A message refused for its HELO or MAIL FROM keeps nothing. The
	 * evaluator gets the value as the MTA gave it before we asked for
	 * the leading space (Postfix and sendmail drop one space, not a
	 * tab); DKIM gets it as it was.
	 */
	if (c->msg && c->msg->refusal == MSG_OK && name && value) {
		msg_add_header(c->msg, name, c->leadspc && value[0] == ' ' ? value + 1 : value);
		msg_dkim_header(c->msg, name, value, c->leadspc);
	}
	return c->nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_eoh(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	/* The keys are prefetched now, while the body streams in. */
	if (c->msg != NULL)
		msg_dkim_eoh(c->msg);
	return c->nr_eoh ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/*
 * Hashed as it streams, nothing kept. A message with nothing to verify
 * (unsigned, skipped, refused, DKIM off) answers its first chunk with
 * SMFIS_SKIP: the MTA then sends no more of it. An MTA that cannot skip
 * sends it all, and it is dropped chunk by chunk.
 */
static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	if (c->msg == NULL || !msg_dkim_body(c->msg, chunk, len))
		return c->can_skip ? SMFIS_SKIP : SMFIS_CONTINUE;
	return SMFIS_CONTINUE;
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
	.xxfi_eoh = mlfi_eoh,
	.xxfi_body = mlfi_body,
	.xxfi_eom = milter_eom,
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
