/*
 * probe: the SMTP sessions. They run in parallel, each on its own
 * connection: STARTTLS and AUTH, and one STARTTLS session per TLS
 * version and cipher class tried (probe_tls.c); HELP and VRFY; EXPN;
 * relay; postmaster@ and abuse@. Postfix counts every 4xx/5xx reply
 * against smtpd_soft_error_limit (10) and then sleeps a second before
 * each reply, and Sendmail slows down after five VRFY or EXPN, so no
 * session makes more than about eight errors or five lookups. The
 * sessions record what they saw; probe_judge.c judges it once they have
 * all ended.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "probe_int.h"

/* Destinations for the relay probe, tried in order (see audit_relay_foreign). */
static const char *const relay_foreign[] = { "example.net", "example.com", "example.org" };
#define RELAY_SENDER    "audit-probe@example.com"
#define RELAY_PER_CONN  5

static const char *const real_names[] = { "postmaster", "root", "admin", "info", "abuse" };
_Static_assert(MP_ARRAY_SIZE(real_names) == PROBE_NREAL, "PROBE_NREAL is the real names");

void
probe_session_fail(struct probe_session *s, enum smtp_err e, const char *where)
{
	if (s->err != SMTP_OK)
		return;
	s->err = e;
	/* Both are for the report only: a cut is fine. */
	mp_strlcpy(s->where, where, sizeof(s->where));
	mp_strlcpy(s->errtext, s->c ? smtp_error(s->c) : "", sizeof(s->errtext));
}

bool
probe_session_open(struct probe_session *s)
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
		probe_session_fail(s, e, "banner");
		return false;
	}
	if (s->banner.code != 220) {
		s->err = SMTP_ERR_CLOSED;
		snprintf(s->where, sizeof(s->where), "banner");
		snprintf(s->errtext, sizeof(s->errtext), "the banner is not 220: %d", s->banner.code);
		return false;
	}
	if ((e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &s->ehlo)) != SMTP_OK) {
		probe_session_fail(s, e, "EHLO");
		return false;
	}
	audit_ehlo_parse(&s->ehlo, &s->eh);
	return true;
}

void
probe_session_close(struct probe_session *s)
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
		probe_session_fail(s, *err_r, where);
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
lookup_thread(void *arg)
{
	struct probe_lookup *l = arg;
	struct probe_session *s = &l->s;
	size_t k = 0;

	for (size_t i = 0; i < PROBE_NREAL; i++)
		snprintf(l->names[k++], sizeof(l->names[0]), "%s", real_names[i]);
	for (size_t i = 0; i < PROBE_NRANDOM; i++)
		random_name(l->names[k++], sizeof(l->names[0]));
	if (!probe_session_open(s))
		return NULL;
	if (l->help) {
		snprintf(l->help_step.cmd, sizeof(l->help_step.cmd), "HELP");
		if (!run_step(s, &l->help_step))
			return NULL;
	}
	for (size_t i = 0; i < PROBE_NLOOKUP; i++) {
		if (i > 0 && i % PROBE_LOOKUP_PER_CONN == 0) {
			probe_session_close(s);
			if (!probe_session_open(s))
				return NULL;
		}
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
 * Decides, on the first connection, how a probe comes from a source the
 * server does not trust. False when it cannot (u->trusted).
 */
static bool
untrusted_choose_mode(struct probe_untrusted *u)
{
	const struct probe_session *s = &u->s;
	const struct audit_probe_opts *o = s->o;

	if (o->source != NULL && *o->source != '\0') {
		u->mode = "--source";
	} else if (s->eh.xclient && strstr(s->eh.xclient_attrs, "ADDR") != NULL) {
		u->mode = "XCLIENT";
	} else if (o->mynetworks != NULL && audit_addr_in_networks(s->local, o->mynetworks)) {
		u->trusted = true;
		snprintf(u->trust_why, sizeof(u->trust_why),
		    "the source %s is in mynetworks", s->local);
	} else if (o->mynetworks == NULL && (is_loopback(s->local) || strcmp(s->local, s->peer) == 0)) {
		u->trusted = true;
		snprintf(u->trust_why, sizeof(u->trust_why),
		    "the source %s is this host, which MTAs trust by default", s->local);
	} else {
		u->mode = "direct";
	}
	return !u->trusted;
}

/* Re-greets as PROBE_XCLIENT_ADDR. False when the session ended. */
static bool
untrusted_xclient(struct probe_untrusted *u)
{
	struct probe_session *s = &u->s;
	struct smtp_reply r = { 0 };
	struct mp_buf b = MP_BUF_INIT;
	int code = 0;
	enum smtp_err e;
	bool ok;

	ok = session_command(s, "XCLIENT ADDR=" PROBE_XCLIENT_ADDR " NAME=[UNAVAILABLE]", "XCLIENT",
	    &e, &code, &b);
	if (ok)
		snprintf(u->xclient_reply, sizeof(u->xclient_reply), "%d %s", code, mp_buf_str(&b));
	mp_buf_free(&b);
	if (!ok)
		return false;
	if (code != 220) {
		s->err = SMTP_ERR_CLOSED;
		snprintf(s->where, sizeof(s->where), "XCLIENT");
		snprintf(s->errtext, sizeof(s->errtext), "XCLIENT refused: %.250s", u->xclient_reply);
		return false;
	}
	e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &r);
	smtp_reply_clear(&r);
	if (e != SMTP_OK) {
		probe_session_fail(s, e, "EHLO after XCLIENT");
		return false;
	}
	return true;
}

/*
 * Opens a connection from an untrusted source; with XCLIENT, re-greets
 * as another client. With trusted_ok, a trusted source is used when it
 * is the only one (u->trusted says so); else that ends the session.
 */
static bool
untrusted_open(struct probe_untrusted *u, bool trusted_ok)
{
	if (!probe_session_open(&u->s))
		return false;
	if (u->mode == NULL && !u->trusted && !untrusted_choose_mode(u) && !trusted_ok)
		return false;
	if (u->trusted || strcmp(u->mode, "XCLIENT") != 0)
		return true;
	return untrusted_xclient(u);
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
		probe_session_fail(s, t->err, "RSET");
		return false;
	}
	return true;
}

static void *
relay_thread(void *arg)
{
	struct probe_relay *rs = arg;
	struct probe_session *s = &rs->u.s;

	rs->foreign = audit_relay_foreign(s->o->served, s->o->domain);
	if (rs->foreign == NULL)
		return NULL;
	rs->n = audit_relay_forms(s->o->domain, rs->foreign, rs->t, PROBE_MAX_RELAY);
	for (size_t i = 0; i < rs->n; i++) {
		if (i % RELAY_PER_CONN == 0) {
			if (i > 0)
				probe_session_close(s);
			if (!untrusted_open(&rs->u, false))
				return NULL;
		}
		if (!relay_try(s, &rs->t[i]))
			return NULL;
	}
	return NULL;
}

/* MAIL FROM:<> (as a bounce comes), then RCPT TO each mailbox, never DATA. */
static void *
postmaster_thread(void *arg)
{
	struct probe_postmaster *pm = arg;
	struct probe_session *s = &pm->u.s;
	static const char *const local[PM_COUNT] = { "postmaster", "abuse", NULL };
	char control[32];
	enum smtp_err e;

	if (s->o->domain == NULL || *s->o->domain == '\0' || !untrusted_open(&pm->u, true))
		return NULL;
	pm->tried = true;
	if (!relay_command(s, "MAIL FROM", "<>", &e, &pm->mail_code, pm->mail_text,
	    sizeof(pm->mail_text)) || pm->mail_code / 100 != 2)
		return NULL;
	random_name(control, sizeof(control));
	for (size_t i = 0; i < PM_COUNT; i++) {
		snprintf(pm->rcpt[i], sizeof(pm->rcpt[i]), "<%s@%s>", local[i] ? local[i] : control,
		    s->o->domain);
		if (!relay_command(s, "RCPT TO", pm->rcpt[i], &e, &pm->code[i], pm->text[i],
		    sizeof(pm->text[i])))
			return NULL;
	}
	return NULL;
}

static void
lookup_clear(struct probe_lookup *l)
{
	probe_session_close(&l->s);
	free(l->help_step.text);
	for (size_t i = 0; i < PROBE_NLOOKUP; i++)
		free(l->step[i].text);
}

void
audit_probe_free(struct audit_probe **pp)
{
	struct audit_probe *run = *pp;

	if (run == NULL)
		return;
	probe_session_close(&run->tls.s);
	smtp_reply_clear(&run->tls.starttls);
	smtp_reply_clear(&run->tls.ehlo2);
	audit_chain_free(&run->tls.chain);
	lookup_clear(&run->vrfy);
	lookup_clear(&run->expn);
	probe_session_close(&run->relay.u.s);
	probe_session_close(&run->pm.u.s);
	for (size_t i = 0; i < TLSV_COUNT; i++)
		probe_tlsv_clear(&run->tlsv[i]);
	free(run);
	*pp = NULL;
}

struct audit_probe *
audit_probe_run(const struct audit_probe_opts *o)
{
	struct audit_probe *run = xcalloc(1, sizeof(*run));
	struct {
		void *(*fn)(void *);
		void *arg;
	} job[5 + TLSV_COUNT] = {
		{ probe_tls_thread, &run->tls },
		{ lookup_thread, &run->vrfy },
		{ lookup_thread, &run->expn },
		{ relay_thread, &run->relay },
		{ postmaster_thread, &run->pm },
	};
	pthread_t th[MP_ARRAY_SIZE(job)];
	bool started[MP_ARRAY_SIZE(job)];

	run->tls.s.o = run->vrfy.s.o = run->expn.s.o = run->relay.u.s.o = run->pm.u.s.o = o;
	run->vrfy.verb = "VRFY";
	run->vrfy.help = true;
	run->expn.verb = "EXPN";
	for (size_t i = 0; i < TLSV_COUNT; i++) {
		probe_tlsv_init(&run->tlsv[i], (enum probe_tlsv_kind)i, o);
		job[5 + i].fn = probe_tlsv_thread;
		job[5 + i].arg = &run->tlsv[i];
	}
	for (size_t i = 0; i < MP_ARRAY_SIZE(job); i++) {
		started[i] = pthread_create(&th[i], NULL, job[i].fn, job[i].arg) == 0;
		if (!started[i])
			job[i].fn(job[i].arg);
	}
	for (size_t i = 0; i < MP_ARRAY_SIZE(job); i++)
		if (started[i])
			pthread_join(th[i], NULL);
	return run;
}

const struct audit_chain *
audit_probe_chain(const struct audit_probe *p)
{
	return &p->tls.chain;
}

const char *
audit_probe_ehlo_name(const struct audit_probe *p)
{
	return p->tls.s.eh.valid ? p->tls.s.eh.name : "";
}
