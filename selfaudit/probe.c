/*
 * probe: the SMTP sessions. Four run in parallel, each on its own
 * connection: TLS and AUTH; HELP and VRFY; EXPN; relay. Postfix counts
 * every 4xx/5xx reply against smtpd_soft_error_limit (10) and then
 * sleeps a second before each reply, so no session makes more than
 * about eight errors. The sessions record what they saw; probe_judge.c
 * judges it once they have all ended.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "probe_int.h"

#define PROBE_EHLO_NAME "mailposture-audit.invalid"
/* Destinations for the relay probe, tried in order (see audit_relay_foreign). */
static const char *const relay_foreign[] = { "example.net", "example.com", "example.org" };
#define RELAY_SENDER    "audit-probe@example.com"
#define RELAY_PER_CONN  5

static const char *const real_names[] = { "postmaster", "root", "admin", "info", "abuse" };
_Static_assert(MP_ARRAY_SIZE(real_names) == PROBE_NREAL, "PROBE_NREAL is the real names");

static void
fail_session(struct probe_session *s, enum smtp_err e, const char *where)
{
	if (s->err != SMTP_OK)
		return;
	s->err = e;
	/* Both are for the report only: a cut is fine. */
	mp_strlcpy(s->where, where, sizeof(s->where));
	mp_strlcpy(s->errtext, s->c ? smtp_error(s->c) : "", sizeof(s->errtext));
}

/* Connects, reads the banner, says EHLO. False when the session ended. */
static bool
session_open(struct probe_session *s)
{
	char err[256];
	unsigned long long t0 = mp_now_ms();
	enum smtp_err e;

	s->c = smtp_connect(s->o->host, s->o->port, s->o->source, s->o->timeout_ms, err, sizeof(err));
	if (s->c == NULL) {
		s->err = SMTP_ERR_CONNECT;
		snprintf(s->where, sizeof(s->where), "connect");
		snprintf(s->errtext, sizeof(s->errtext), "%s", err);
		return false;
	}
	s->connect_ms = mp_now_ms() - t0;
	snprintf(s->local, sizeof(s->local), "%s", smtp_local_addr(s->c));
	snprintf(s->peer, sizeof(s->peer), "%s", smtp_peer_addr(s->c));
	if ((e = smtp_read_reply(s->c, &s->banner)) != SMTP_OK) {
		fail_session(s, e, "banner");
		return false;
	}
	if (s->banner.code != 220) {
		s->err = SMTP_ERR_CLOSED;
		snprintf(s->where, sizeof(s->where), "banner");
		snprintf(s->errtext, sizeof(s->errtext), "the banner is not 220: %d", s->banner.code);
		return false;
	}
	if ((e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &s->ehlo)) != SMTP_OK) {
		fail_session(s, e, "EHLO");
		return false;
	}
	audit_ehlo_parse(&s->ehlo, &s->eh);
	return true;
}

static void
session_close(struct probe_session *s)
{
	if (s->c != NULL && s->err == SMTP_OK) {
		struct smtp_reply r = { 0 };

		(void)smtp_command(s->c, "QUIT", &r);
		smtp_reply_clear(&r);
	}
	smtp_close(&s->c);
	smtp_reply_clear(&s->banner);
	smtp_reply_clear(&s->ehlo);
}

/*
 * Sends cmd and appends the reply's text (lines joined) to text. False
 * when the session ended; where says what we were doing then.
 */
static bool
session_command(struct probe_session *s, const char *cmd, const char *where,
    enum smtp_err *err_r, int *code_r, struct mp_buf *text)
{
	struct smtp_reply r = { 0 };

	*err_r = smtp_command(s->c, cmd, &r);
	if (*err_r != SMTP_OK) {
		smtp_reply_clear(&r);
		fail_session(s, *err_r, where);
		return false;
	}
	*code_r = r.code;
	smtp_reply_text(&r, text);
	smtp_reply_clear(&r);
	return true;
}

static bool
run_step(struct probe_session *s, struct probe_step *st)
{
	struct mp_buf b = MP_BUF_INIT;

	if (!session_command(s, st->cmd, st->cmd, &st->err, &st->code, &b))
		return false;
	st->text = mp_buf_steal(&b);
	return true;
}

static void
random_name(char *out, size_t outlen)
{
	unsigned char rnd[5];

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		unsigned long long t = mp_now_ms() ^ ((unsigned long long)getpid() << 20);

		memcpy(rnd, &t, sizeof(rnd));
	}
	snprintf(out, outlen, "mpa%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);
}

static void *
tls_thread(void *arg)
{
	struct probe_tls *t = arg;
	struct probe_session *s = &t->s;
	const char *sni;
	enum smtp_err e;

	if (!session_open(s) || !s->eh.starttls)
		return NULL;
	t->tried = true;
	sni = s->o->tls_name;
	if (sni == NULL || *sni == '\0')
		sni = s->eh.name;
	snprintf(t->name_used, sizeof(t->name_used), "%s", sni);
	e = smtp_starttls(s->c, sni, true, &t->starttls, &t->leftover, &t->injected, &t->info);
	t->tls_err = e;
	if (e != SMTP_OK) {
		snprintf(t->tls_errtext, sizeof(t->tls_errtext), "%s", smtp_error(s->c));
		fail_session(s, e, "STARTTLS");
		return NULL;
	}
	if (t->starttls.code != 220)
		return NULL;
	if (t->name_used[0] != '\0') {
		t->name_checked = true;
		t->name_ok = smtp_tls_name_matches(s->c, t->name_used);
	}
	e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &t->ehlo2);
	t->ehlo2_err = e;
	if (e != SMTP_OK) {
		fail_session(s, e, "EHLO after STARTTLS");
		return NULL;
	}
	audit_ehlo_parse(&t->ehlo2, &t->eh2);
	return NULL;
}

static void *
lookup_thread(void *arg)
{
	struct probe_lookup *l = arg;
	struct probe_session *s = &l->s;
	size_t k = 0;

	for (size_t i = 0; i < PROBE_NREAL; i++)
		snprintf(l->names[k++], sizeof(l->names[0]), "%s", real_names[i]);
	for (size_t i = 0; i < PROBE_NRANDOM; i++)
		random_name(l->names[k++], sizeof(l->names[0]));
	if (!session_open(s))
		return NULL;
	if (l->help) {
		snprintf(l->help_step.cmd, sizeof(l->help_step.cmd), "HELP");
		if (!run_step(s, &l->help_step))
			return NULL;
	}
	for (size_t i = 0; i < PROBE_NLOOKUP; i++) {
		snprintf(l->step[i].cmd, sizeof(l->step[i].cmd), "%s %s", l->verb, l->names[i]);
		l->nsteps = i + 1;
		if (!run_step(s, &l->step[i]))
			return NULL;
		/* A server that says 421 is hanging up: stop asking. */
		if (l->step[i].code == 421)
			return NULL;
	}
	return NULL;
}

static bool
is_loopback(const char *a)
{
	return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
	    strncmp(a, "::ffff:127.", 11) == 0;
}

/*
 * Decides, on the first connection, how the relay probe comes from a
 * source the server does not trust. False when it cannot (rs->trusted).
 */
static bool
relay_choose_mode(struct probe_relay *rs)
{
	const struct probe_session *s = &rs->s;
	const struct audit_probe_opts *o = s->o;

	if (o->source != NULL && *o->source != '\0') {
		rs->mode = "--source";
	} else if (s->eh.xclient && strstr(s->eh.xclient_attrs, "ADDR") != NULL) {
		rs->mode = "XCLIENT";
	} else if (o->mynetworks != NULL && audit_addr_in_networks(s->local, o->mynetworks)) {
		rs->trusted = true;
		snprintf(rs->trust_why, sizeof(rs->trust_why),
		    "the source %s is in mynetworks", s->local);
	} else if (o->mynetworks == NULL && (is_loopback(s->local) || strcmp(s->local, s->peer) == 0)) {
		rs->trusted = true;
		snprintf(rs->trust_why, sizeof(rs->trust_why),
		    "the source %s is this host, which MTAs trust by default", s->local);
	} else {
		rs->mode = "direct";
	}
	return !rs->trusted;
}

/* Re-greets as PROBE_XCLIENT_ADDR. False when the session ended. */
static bool
relay_xclient(struct probe_relay *rs)
{
	struct probe_session *s = &rs->s;
	struct smtp_reply r = { 0 };
	struct mp_buf b = MP_BUF_INIT;
	int code = 0;
	enum smtp_err e;
	bool ok;

	ok = session_command(s, "XCLIENT ADDR=" PROBE_XCLIENT_ADDR " NAME=[UNAVAILABLE]", "XCLIENT",
	    &e, &code, &b);
	if (ok)
		snprintf(rs->xclient_reply, sizeof(rs->xclient_reply), "%d %s", code, mp_buf_str(&b));
	mp_buf_free(&b);
	if (!ok)
		return false;
	if (code != 220) {
		s->err = SMTP_ERR_CLOSED;
		snprintf(s->where, sizeof(s->where), "XCLIENT");
		snprintf(s->errtext, sizeof(s->errtext), "XCLIENT refused: %.250s", rs->xclient_reply);
		return false;
	}
	e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &r);
	smtp_reply_clear(&r);
	if (e != SMTP_OK) {
		fail_session(s, e, "EHLO after XCLIENT");
		return false;
	}
	return true;
}

/* Opens a relay connection; with XCLIENT, re-greets as another client. */
static bool
relay_open(struct probe_relay *rs)
{
	if (!session_open(&rs->s))
		return false;
	if (rs->mode == NULL && !relay_choose_mode(rs))
		return false;
	if (strcmp(rs->mode, "XCLIENT") != 0)
		return true;
	return relay_xclient(rs);
}

/* True when domain is one of the served list's domains or below one. */
static bool
served_by(const char *served, const char *domain)
{
	const char *p = served ? served : "";

	while (*p) {
		char tok[MP_DOMAIN_MAX], norm[MP_DOMAIN_MAX];
		const char *why;
		size_t n;

		p += strspn(p, " ,\t\r\n");
		n = strcspn(p, " ,\t\r\n");
		if (n > 0 && n < sizeof(tok)) {
			memcpy(tok, p, n);
			tok[n] = '\0';
			/* Lookup tables (hash:...) and unexpanded $names are not domains. */
			if (strpbrk(tok, ":$/") == NULL &&
			    mp_domain_normalize_ex(tok, n, norm, MP_DOMAIN_ALLOW_SINGLE, &why) &&
			    mp_domain_is_sub_or_same(domain, norm))
				return true;
		}
		p += n;
	}
	return false;
}

const char *
audit_relay_foreign(const char *served, const char *own)
{
	for (size_t i = 0; i < MP_ARRAY_SIZE(relay_foreign); i++) {
		const char *d = relay_foreign[i];

		if (served_by(served, d))
			continue;
		if (own && *own && (mp_domain_is_sub_or_same(d, own) || mp_domain_is_sub_or_same(own, d)))
			continue;
		return d;
	}
	return NULL;
}

size_t
audit_relay_forms(const char *own, const char *foreign, struct audit_relay_try *t, size_t max)
{
	size_t n = 0;
	bool have_own = own != NULL && *own != '\0';

#define FORM(name, mailv, is_foreign, ...) do { \
	if (n < max) { \
		memset(&t[n], 0, sizeof(t[n])); \
		t[n].form = name; \
		snprintf(t[n].mail, sizeof(t[n].mail), "%s", mailv); \
		snprintf(t[n].rcpt, sizeof(t[n].rcpt), __VA_ARGS__); \
		t[n].foreign = is_foreign; \
		n++; \
	} } while (0)

	FORM("plain", "<" RELAY_SENDER ">", true, "<relaytest@%s>", foreign);
	FORM("null sender", "<>", true, "<relaytest@%s>", foreign);
	FORM("quoted local part", "<" RELAY_SENDER ">", true, "<\"relaytest@%s\">", foreign);
	FORM("bang path", "<" RELAY_SENDER ">", true, "<%s!relaytest>", foreign);
	if (have_own) {
		FORM("local sender", "<postmaster@", true, "<relaytest@%s>", foreign);
		snprintf(t[n - 1].mail, sizeof(t[n - 1].mail), "<postmaster@%s>", own);
		FORM("%-hack", "<" RELAY_SENDER ">", false, "<relaytest%%%s@%s>", foreign, own);
		FORM("quoted local part at our domain", "<" RELAY_SENDER ">", false,
		    "<\"relaytest@%s\"@%s>", foreign, own);
		FORM("source route", "<" RELAY_SENDER ">", true, "<@%s:relaytest@%s>", own, foreign);
		FORM("bang path at our domain", "<" RELAY_SENDER ">", false, "<%s!relaytest@%s>",
		    foreign, own);
		FORM("double @", "<" RELAY_SENDER ">", false, "<relaytest@%s@%s>", foreign, own);
	}
#undef FORM
	return n;
}

/* "MAIL FROM:" or "RCPT TO:" with arg; the reply into *code and text. */
static bool
relay_command(struct probe_session *s, const char *verb, const char *arg, enum smtp_err *err,
    int *code, char *text, size_t textlen)
{
	struct mp_buf b = MP_BUF_INIT;
	char *cmd = xasprintf("%s:%s", verb, arg);
	bool ok = session_command(s, cmd, verb, err, code, &b);

	free(cmd);
	if (ok)
		mp_strlcpy(text, mp_buf_str(&b), textlen);
	mp_buf_free(&b);
	return ok;
}

/* One relay form: MAIL, RCPT when MAIL was accepted, never DATA: RSET ends it. */
static bool
relay_try(struct probe_session *s, struct audit_relay_try *t)
{
	struct smtp_reply r = { 0 };

	if (!relay_command(s, "MAIL FROM", t->mail, &t->err, &t->mail_code, t->mail_text,
	    sizeof(t->mail_text)))
		return false;
	if (t->mail_code >= 200 && t->mail_code < 300 &&
	    !relay_command(s, "RCPT TO", t->rcpt, &t->err, &t->rcpt_code, t->rcpt_text,
	    sizeof(t->rcpt_text)))
		return false;
	t->err = smtp_command(s->c, "RSET", &r);
	smtp_reply_clear(&r);
	if (t->err != SMTP_OK) {
		fail_session(s, t->err, "RSET");
		return false;
	}
	return true;
}

static void *
relay_thread(void *arg)
{
	struct probe_relay *rs = arg;
	struct probe_session *s = &rs->s;

	rs->foreign = audit_relay_foreign(s->o->served, s->o->domain);
	if (rs->foreign == NULL)
		return NULL;
	rs->n = audit_relay_forms(s->o->domain, rs->foreign, rs->t, PROBE_MAX_RELAY);
	for (size_t i = 0; i < rs->n; i++) {
		if (i % RELAY_PER_CONN == 0) {
			if (i > 0)
				session_close(s);
			if (!relay_open(rs))
				return NULL;
		}
		if (!relay_try(s, &rs->t[i]))
			return NULL;
	}
	return NULL;
}

static void
probe_run_free(struct probe_run *run)
{
	session_close(&run->tls.s);
	smtp_reply_clear(&run->tls.starttls);
	smtp_reply_clear(&run->tls.ehlo2);
	session_close(&run->vrfy.s);
	session_close(&run->expn.s);
	session_close(&run->relay.s);
	free(run->vrfy.help_step.text);
	for (size_t i = 0; i < PROBE_NLOOKUP; i++) {
		free(run->vrfy.step[i].text);
		free(run->expn.step[i].text);
	}
	free(run);
}

void
audit_probe_smtp(struct audit_report *r, const struct audit_probe_opts *o)
{
	struct probe_run *run = xcalloc(1, sizeof(*run));
	const struct {
		void *(*fn)(void *);
		void *arg;
	} job[] = {
		{ tls_thread, &run->tls },
		{ lookup_thread, &run->vrfy },
		{ lookup_thread, &run->expn },
		{ relay_thread, &run->relay },
	};
	pthread_t th[MP_ARRAY_SIZE(job)];
	bool started[MP_ARRAY_SIZE(job)];

	run->tls.s.o = run->vrfy.s.o = run->expn.s.o = run->relay.s.o = o;
	run->vrfy.verb = "VRFY";
	run->vrfy.help = true;
	run->expn.verb = "EXPN";
	for (size_t i = 0; i < MP_ARRAY_SIZE(job); i++) {
		started[i] = pthread_create(&th[i], NULL, job[i].fn, job[i].arg) == 0;
		if (!started[i])
			job[i].fn(job[i].arg);
	}
	for (size_t i = 0; i < MP_ARRAY_SIZE(job); i++)
		if (started[i])
			pthread_join(th[i], NULL);
	probe_judge(r, run);
	/* The judges read the sessions' replies: closed only now. */
	probe_run_free(run);
}
