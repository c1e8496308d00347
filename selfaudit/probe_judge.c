/*
 * probe_judge: the SMTP checks, judged from what the sessions recorded
 * (the TLS ones are probe_judge_tls.c's).
 * audit_judge_lookup and audit_judge_relay are the comparisons (pure,
 * tested by tables); the rest turns one run into findings, evidence and
 * fixes.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_int.h"

/* A byte of a word: the name inside one ("admin" in "Administrative") is no echo. */
static bool
word_byte(unsigned char ch)
{
	return isalnum(ch) || ch >= 0x80;
}

/*
 * Length of the probed name arg at p of text when it stands there as a
 * whole token, in any case ("<mpa01@", "'mpa01'", " mpa01"); else 0.
 */
static size_t
name_at(const char *text, const char *p, const char *arg)
{
	size_t al = strlen(arg);

	if (al == 0 || mp_strncasecmp(p, arg, al) != 0)
		return 0;
	if (p > text && word_byte((unsigned char)p[-1]))
		return 0;
	if (word_byte((unsigned char)p[al]))
		return 0;
	return al;
}

/* The reply text with every whole-token occurrence of arg replaced by "*". */
static void
normalise(const char *text, const char *arg, struct mp_buf *out)
{
	for (const char *p = text; *p != '\0';) {
		size_t l = name_at(text, p, arg);

		if (l > 0) {
			mp_buf_putc(out, '*');
			p += l;
		} else {
			mp_buf_putc(out, *p++);
		}
	}
}

static char *
answer_key(const struct audit_answer *a)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_buf_printf(&b, "%d ", a->code);
	normalise(a->text ? a->text : "", a->arg, &b);
	return mp_buf_steal(&b);
}

/*
 * True when the real answer r is the random answer b with the real name
 * where b echoes the random one (in any case), and the same bytes
 * elsewhere. Only the random name is looked for: a real name is also a
 * word ("root of the problem", "Administrative", "Information withheld"),
 * so blanking it in r would make identical replies differ.
 */
static bool
same_answer(const struct audit_answer *b, const struct audit_answer *r)
{
	const char *bt = b->text ? b->text : "", *rt = r->text ? r->text : "";
	size_t rl = strlen(r->arg);

	if (b->code != r->code)
		return false;
	for (const char *p = bt; *p != '\0';) {
		size_t l = name_at(bt, p, b->arg);

		if (l > 0) {
			if (rl == 0 || mp_strncasecmp(rt, r->arg, rl) != 0)
				return false;
			p += l;
			rt += rl;
		} else if (*p++ != *rt++) {
			return false;
		}
	}
	return *rt == '\0';
}

/*
 * The first answer to a random name (NULL: none) and its key; *disagree
 * when the random names were answered differently among themselves.
 */
static const struct audit_answer *
random_base(const struct audit_answer *a, size_t n, size_t *nrandom, bool *disagree,
    char **key_r)
{
	const struct audit_answer *base = NULL;

	*nrandom = 0;
	*disagree = false;
	*key_r = NULL;
	for (size_t i = 0; i < n; i++) {
		char *k;

		if (a[i].real || a[i].err != SMTP_OK)
			continue;
		k = answer_key(&a[i]);
		(*nrandom)++;
		if (base == NULL) {
			base = &a[i];
			*key_r = k;
		} else {
			if (strcmp(k, *key_r) != 0)
				*disagree = true;
			free(k);
		}
	}
	return base;
}

/*
 * Random names answered differently among themselves say nothing about
 * real ones: per-reply trace ids ("... x7si1234567abc.12 - gsmtp") or
 * rate limiting make every reply unique. So that comes first, before
 * the comparison of real with random names.
 */
enum audit_status
audit_judge_lookup(const char *cmd, const struct audit_answer *a, size_t n,
    char *finding, size_t findinglen)
{
	const struct audit_answer *base;
	char *key;
	size_t nreal = 0, nrandom, leaks = 0;
	bool random_disagree;
	struct mp_buf leaked = MP_BUF_INIT, pr = MP_BUF_INIT;
	enum audit_status st;

	base = random_base(a, n, &nrandom, &random_disagree, &key);
	if (base == NULL) {
		snprintf(finding, findinglen, "no usable answer to %s for random names", cmd);
		return AUDIT_NOT_TESTED;
	}
	for (size_t i = 0; i < n; i++) {
		if (!a[i].real || a[i].err != SMTP_OK)
			continue;
		nreal++;
		if (!same_answer(base, &a[i])) {
			leaks++;
			audit_list_add(&leaked, ", ", "%s %d", a[i].arg, a[i].code);
		}
	}
	if (nreal == 0) {
		snprintf(finding, findinglen, "no usable answer to %s for likely-real names", cmd);
		st = AUDIT_NOT_TESTED;
	} else if (random_disagree) {
		snprintf(finding, findinglen, "%s answers vary from one random name to the next "
		    "(per-reply trace ids or rate limiting?), so a difference for real names "
		    "proves nothing: no conclusion", cmd);
		st = AUDIT_WARN;
	} else if (leaks > 0) {
		snprintf(finding, findinglen,
		    "users can be enumerated: %s answers differ between real and random names (%s; random names %d)",
		    cmd, mp_buf_str(&leaked), base->code);
		st = AUDIT_FAIL;
	} else {
		mp_printable(&pr, key, strlen(key), MP_SHOW_REASON);
		snprintf(finding, findinglen, "uniform answer to %zu real and %zu random names: %s",
		    nreal, nrandom, mp_buf_str(&pr));
		st = AUDIT_PASS;
	}
	free(key);
	mp_buf_free(&leaked);
	mp_buf_free(&pr);
	return st;
}

enum audit_status
audit_judge_relay(const struct audit_relay_try *t, size_t n, char *finding, size_t findinglen)
{
	struct mp_buf open = MP_BUF_INIT, local = MP_BUF_INIT;
	size_t tested = 0;
	enum audit_status st;

	for (size_t i = 0; i < n; i++) {
		if (t[i].err != SMTP_OK && t[i].rcpt_code == 0 && t[i].mail_code == 0)
			continue;
		tested++;
		if (t[i].mail_code >= 200 && t[i].mail_code < 300 &&
		    t[i].rcpt_code >= 200 && t[i].rcpt_code < 300)
			audit_list_add(t[i].foreign ? &open : &local, ", ", "%s RCPT TO:%s", t[i].form,
			    t[i].rcpt);
	}
	if (tested == 0) {
		snprintf(finding, findinglen, "no relay form could be tried");
		st = AUDIT_NOT_TESTED;
	} else if (open.len > 0) {
		snprintf(finding, findinglen, "open relay: accepted %s", mp_buf_str(&open));
		st = AUDIT_FAIL;
	} else if (local.len > 0) {
		snprintf(finding, findinglen,
		    "refused to relay, but accepted addresses at our domain that encode a foreign one "
		    "(%s): safe only if they are delivered locally", mp_buf_str(&local));
		st = AUDIT_WARN;
	} else {
		snprintf(finding, findinglen, "refused all %zu relay forms", tested);
		st = AUDIT_PASS;
	}
	mp_buf_free(&open);
	mp_buf_free(&local);
	return st;
}

static void
session_evidence(struct audit_report *r, enum audit_check_id id, const struct probe_session *s)
{
	if (s->err != SMTP_OK)
		audit_evidence(r, id, "session ended at %s: %s (%s)", s->where, smtp_err_str(s->err),
		    s->errtext);
}

static void
judge_service(struct audit_report *r, const struct probe_tls *t)
{
	const struct probe_session *s = &t->s;
	struct mp_buf b = MP_BUF_INIT;

	if (s->banner.nlines > 0) {
		smtp_reply_print(&s->banner, &b, MP_SHOW_TEXT);
		audit_evidence(r, CHK_SMTP, "banner: %s", mp_buf_str(&b));
		mp_buf_reset(&b);
	}
	if (s->err == SMTP_ERR_CONNECT) {
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "cannot connect: %s", s->errtext);
		audit_fix(r, CHK_SMTP, "Check that the MTA runs and listens on %s port %s "
		    "(Postfix: inet_interfaces, master.cf smtp service).", s->o->host, s->o->port);
	} else if (s->banner.nlines == 0 || s->banner.code != 220) {
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "%s before a usable banner: %s",
		    s->err == SMTP_OK ? "no 220 greeting" : smtp_err_str(s->err), s->errtext);
		audit_fix(r, CHK_SMTP, "The server must greet with 220 within the timeout; look for a "
		    "proxy, a firewall or a non-SMTP service on this port.");
	} else if (s->err != SMTP_OK && strcmp(s->where, "STARTTLS") != 0) {
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "session broke at %s: %s", s->where,
		    smtp_err_str(s->err));
		audit_evidence(r, CHK_SMTP, "%s", s->errtext);
		audit_fix(r, CHK_SMTP, "Look in the mail log for the reason the server ended the session.");
	} else if (!s->eh.valid) {
		smtp_reply_print(&s->ehlo, &b, MP_SHOW_LINE);
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "EHLO refused: %s", mp_buf_str(&b));
		audit_fix(r, CHK_SMTP, "A server must accept EHLO (RFC 5321 4.1.1.1).");
	} else {
		audit_set(r, CHK_SMTP, AUDIT_PASS, "greeted with 220 and accepted EHLO (connect %llu ms)",
		    s->connect_ms);
	}
	mp_buf_free(&b);
}

static void
judge_banner(struct audit_report *r, const struct probe_tls *t)
{
	const struct probe_session *s = &t->s;
	struct mp_buf b = MP_BUF_INIT;
	char what[128];

	if (s->banner.code != 220 || s->banner.nlines == 0) {
		audit_set(r, CHK_BANNER, AUDIT_NOT_TESTED, "no banner");
		return;
	}
	smtp_reply_text(&s->banner, &b);
	audit_first_word(s->banner.line[0], r->banner_name, sizeof(r->banner_name));
	audit_evidence(r, CHK_BANNER, "220 %s", mp_buf_str(&b));
	if (audit_reply_discloses(s->banner.code, mp_buf_str(&b), what, sizeof(what))) {
		audit_set(r, CHK_BANNER, AUDIT_WARN, "the banner discloses the %s", what);
		audit_fix(r, CHK_BANNER, "Postfix: smtpd_banner = $myhostname ESMTP");
	} else if (audit_text_names_software(mp_buf_str(&b), what, sizeof(what))) {
		audit_set(r, CHK_BANNER, AUDIT_PASS, "no version disclosed (names the %s only)", what);
		audit_fix(r, CHK_BANNER, "Optional: smtpd_banner = $myhostname ESMTP");
	} else {
		audit_set(r, CHK_BANNER, AUDIT_PASS, "no software version disclosed");
	}
	mp_buf_free(&b);
}

static void
judge_ehlo(struct audit_report *r, const struct probe_tls *t)
{
	const struct probe_session *s = &t->s;
	const struct audit_ehlo *e = &s->eh;
	struct mp_buf b = MP_BUF_INIT;

	if (!e->valid) {
		audit_set(r, CHK_EHLO, AUDIT_NOT_TESTED, "no EHLO reply");
		return;
	}
	mp_strlcpy(r->helo_name, e->name, sizeof(r->helo_name));
	smtp_reply_print(&s->ehlo, &b, MP_SHOW_EVIDENCE);
	audit_evidence(r, CHK_EHLO, "%s", mp_buf_str(&b));
	audit_set(r, CHK_EHLO, AUDIT_INFO, "%s announces: %s%s%s", e->name, e->keywords,
	    e->has_size ? "" : " (no SIZE)", e->xclient ? " (XCLIENT offered to us)" : "");
	if (e->has_size && e->size > 0)
		audit_evidence(r, CHK_EHLO, "SIZE limit: %llu bytes", e->size);
	mp_buf_free(&b);
}

static void
judge_help(struct audit_report *r, const struct probe_lookup *l)
{
	const struct probe_step *h = &l->help_step;
	char what[128];

	if (h->text == NULL) {
		audit_set(r, CHK_HELP, AUDIT_NOT_TESTED, "no answer to HELP");
		session_evidence(r, CHK_HELP, &l->s);
		return;
	}
	audit_evidence(r, CHK_HELP, "HELP -> %d %s", h->code, h->text);
	if (audit_reply_discloses(h->code, h->text, what, sizeof(what))) {
		audit_set(r, CHK_HELP, AUDIT_WARN, "HELP discloses the %s", what);
		audit_fix(r, CHK_HELP, "Remove the version from the HELP text of the MTA.");
	} else if (h->code >= 500) {
		audit_set(r, CHK_HELP, AUDIT_PASS, "HELP not offered: %d %s", h->code, h->text);
	} else {
		audit_set(r, CHK_HELP, AUDIT_PASS, "HELP answers without disclosing a version");
	}
}

static void
judge_lookup(struct audit_report *r, enum audit_check_id id, const struct probe_lookup *l,
    bool announced)
{
	struct audit_answer a[PROBE_NLOOKUP];
	char finding[512];
	enum audit_status st;

	for (size_t i = 0; i < l->nsteps; i++) {
		a[i].arg = l->names[i];
		a[i].real = i < PROBE_NREAL;
		a[i].err = l->step[i].err;
		a[i].code = l->step[i].code;
		a[i].text = l->step[i].text;
		if (l->step[i].text != NULL)
			audit_evidence(r, id, "%s %s -> %d %s", l->verb, l->names[i],
			    l->step[i].code, l->step[i].text);
	}
	session_evidence(r, id, &l->s);
	st = audit_judge_lookup(l->verb, a, l->nsteps, finding, sizeof(finding));
	if (id == CHK_VRFY && !announced && st != AUDIT_NOT_TESTED)
		audit_evidence(r, id, "VRFY is not announced in EHLO, but the server answers it");
	audit_set(r, id, st, "%s", finding);
	if (st == AUDIT_FAIL || st == AUDIT_WARN) {
		if (id == CHK_VRFY)
			audit_fix(r, id, "Postfix: disable_vrfy_command = yes (answers 502 to every VRFY)");
		else
			audit_fix(r, id, "Disable EXPN in the MTA (Postfix never implements it; "
			    "Sendmail: O PrivacyOptions=goaway).");
	}
}

static void
judge_auth(struct audit_report *r, const struct probe_tls *t)
{
	const struct probe_session *s = &t->s;
	const struct audit_ehlo *before = &s->eh, *after = &t->eh2;
	bool tls_ok = t->tried && t->tls_err == SMTP_OK && t->starttls.code == 220 && after->valid;

	if (!before->valid) {
		audit_set(r, CHK_AUTH, AUDIT_NOT_TESTED, "no EHLO reply");
		return;
	}
	audit_evidence(r, CHK_AUTH, "before STARTTLS: %s", before->nauth ? before->auth : "no AUTH");
	if (tls_ok)
		audit_evidence(r, CHK_AUTH, "after STARTTLS: %s", after->nauth ? after->auth : "no AUTH");
	else
		audit_evidence(r, CHK_AUTH, "after STARTTLS: not seen (%s)",
		    s->eh.starttls ? "the TLS session failed" : "no STARTTLS");
	if (before->auth_plaintext) {
		audit_set(r, CHK_AUTH, AUDIT_FAIL,
		    "plaintext AUTH offered before STARTTLS: %s", before->auth);
		audit_fix(r, CHK_AUTH, "Postfix: smtpd_tls_auth_only = yes (and on port 25 consider "
		    "smtpd_sasl_auth_enable = no; submission belongs on 587/465)");
		audit_cap(r, CHK_AUTH);
	} else if (before->nauth > 0) {
		audit_set(r, CHK_AUTH, AUDIT_WARN, "AUTH offered before STARTTLS (%s), no plaintext "
		    "mechanism", before->auth);
		audit_fix(r, CHK_AUTH, "Postfix: smtpd_tls_auth_only = yes");
	} else if (tls_ok && after->nauth > 0) {
		audit_set(r, CHK_AUTH, AUDIT_PASS, "AUTH only after STARTTLS: %s", after->auth);
	} else if (tls_ok) {
		audit_set(r, CHK_AUTH, AUDIT_PASS, "no AUTH offered, before or after STARTTLS");
	} else {
		audit_set(r, CHK_AUTH, AUDIT_PASS, "no AUTH offered before STARTTLS (after STARTTLS not seen)");
	}
}

/* Where an untrusted session came from. */
static void
untrusted_evidence(struct audit_report *r, enum audit_check_id id, const struct probe_untrusted *u)
{
	if (u->mode != NULL)
		audit_evidence(r, id, "probed from %s (%s)%s%s",
		    strcmp(u->mode, "XCLIENT") == 0 ? PROBE_XCLIENT_ADDR : u->s.local, u->mode,
		    u->xclient_reply[0] ? ", XCLIENT -> " : "", u->xclient_reply);
	else if (u->trusted)
		audit_evidence(r, id, "probed from a trusted source: %s", u->trust_why);
}

static void
relay_evidence(struct audit_report *r, const struct probe_relay *rs)
{
	untrusted_evidence(r, CHK_RELAY, &rs->u);
	for (size_t i = 0; i < rs->n; i++) {
		const struct audit_relay_try *t = &rs->t[i];

		if (t->mail_code == 0)
			continue;
		if (t->rcpt_code != 0)
			audit_evidence(r, CHK_RELAY, "%s: MAIL FROM:%s -> %d, RCPT TO:%s -> %d %s", t->form,
			    t->mail, t->mail_code, t->rcpt, t->rcpt_code, t->rcpt_text);
		else
			audit_evidence(r, CHK_RELAY, "%s: MAIL FROM:%s -> %d %s", t->form, t->mail,
			    t->mail_code, t->mail_text);
	}
	session_evidence(r, CHK_RELAY, &rs->u.s);
}

static void
judge_relay(struct audit_report *r, const struct probe_relay *rs)
{
	char finding[700];
	enum audit_status st;

	if (rs->foreign == NULL) {
		audit_set(r, CHK_RELAY, AUDIT_NOT_TESTED, "not tested: this server accepts mail "
		    "for every probe destination (example.net, example.com, example.org)");
		return;
	}
	if (rs->u.trusted) {
		audit_set(r, CHK_RELAY, AUDIT_NOT_TESTED, "not tested: the source is trusted (%s)",
		    rs->u.trust_why);
		audit_fix(r, CHK_RELAY, "Run the audit with --source ADDR, an address of this host "
		    "outside mynetworks (for example 127.0.0.2 when mynetworks is 127.0.0.1/32), or "
		    "from another host.");
		return;
	}
	relay_evidence(r, rs);
	st = audit_judge_relay(rs->t, rs->n, finding, sizeof(finding));
	audit_set(r, CHK_RELAY, st, "%s", finding);
	if (st == AUDIT_FAIL) {
		audit_cap(r, CHK_RELAY);
		audit_fix(r, CHK_RELAY, "Postfix: mynetworks must list only your own networks, and "
		    "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
		    "defer_unauth_destination");
	} else if (st == AUDIT_WARN) {
		audit_fix(r, CHK_RELAY, "Postfix: keep local_recipient_maps set (the default) so unknown "
		    "local users are refused at RCPT time, and allow_percent_hack = no.");
	}
}

/* The replies to the postmaster session's commands. */
static void
postmaster_evidence(struct audit_report *r, const struct probe_postmaster *pm)
{
	untrusted_evidence(r, CHK_POSTMASTER, &pm->u);
	if (pm->mail_code != 0)
		audit_evidence(r, CHK_POSTMASTER, "MAIL FROM:<> -> %d %s", pm->mail_code, pm->mail_text);
	for (size_t i = 0; i < PM_COUNT; i++)
		if (pm->code[i] != 0)
			audit_evidence(r, CHK_POSTMASTER, "RCPT TO:%s -> %d %s", pm->rcpt[i], pm->code[i],
			    pm->text[i]);
	session_evidence(r, CHK_POSTMASTER, &pm->u.s);
}

/*
 * RFC 5321 4.5.1: postmaster@ must be accepted, RFC 2142: abuse@ should.
 * From a trusted source a relay accepts any address, so acceptance there
 * counts only when the random local part was refused.
 */
static void
judge_postmaster(struct audit_report *r, const struct probe_postmaster *pm)
{
	const int *c = pm->code;
	bool pm_ok = c[PM_POSTMASTER] / 100 == 2, abuse_ok = c[PM_ABUSE] / 100 == 2;

	if (!pm->tried) {
		audit_set(r, CHK_POSTMASTER, AUDIT_NOT_TESTED, "%s", pm->u.s.o->domain[0] ?
		    "no session" : "no domain: pass --domain or set [audit] domain");
		session_evidence(r, CHK_POSTMASTER, &pm->u.s);
		return;
	}
	postmaster_evidence(r, pm);
	if (c[PM_POSTMASTER] == 0 || c[PM_ABUSE] == 0) {
		audit_set(r, CHK_POSTMASTER, AUDIT_NOT_TESTED, "%s", pm->mail_code / 100 != 2 ?
		    "MAIL FROM:<> was refused: bounces cannot reach this host" :
		    "the session ended before RCPT");
	} else if (c[PM_POSTMASTER] / 100 == 4 || c[PM_ABUSE] / 100 == 4) {
		audit_set(r, CHK_POSTMASTER, AUDIT_NOT_TESTED, "deferred with %d/%d (greylisting?): "
		    "no conclusion", c[PM_POSTMASTER], c[PM_ABUSE]);
	} else if (!pm_ok) {
		audit_set(r, CHK_POSTMASTER, AUDIT_FAIL, "%s refused with %d: RFC 5321 requires it",
		    pm->rcpt[PM_POSTMASTER], c[PM_POSTMASTER]);
		audit_fix(r, CHK_POSTMASTER, "Deliver postmaster@%s to a person (Postfix: an alias "
		    "postmaster: root in /etc/aliases, and the domain in mydestination or a virtual "
		    "alias).", pm->u.s.o->domain);
	} else if (pm->u.trusted && c[PM_CONTROL] / 100 == 2) {
		audit_set(r, CHK_POSTMASTER, AUDIT_NOT_TESTED, "accepted, but from a trusted source "
		    "that may relay anything (a random local part was accepted too)");
		audit_fix(r, CHK_POSTMASTER, "Run the audit with --source ADDR, an address outside "
		    "mynetworks.");
	} else if (!abuse_ok) {
		audit_set(r, CHK_POSTMASTER, AUDIT_WARN, "postmaster@ accepted, abuse@ refused with %d "
		    "(RFC 2142)", c[PM_ABUSE]);
		audit_fix(r, CHK_POSTMASTER, "Deliver abuse@%s to whoever handles complaints.",
		    pm->u.s.o->domain);
	} else {
		audit_set(r, CHK_POSTMASTER, AUDIT_PASS, "postmaster@ and abuse@ accepted (MAIL FROM:<>, "
		    "no DATA sent)");
	}
}

void
audit_probe_judge(struct audit_report *r, const struct audit_probe *run, const char *const *mx,
    size_t nmx)
{
	const struct probe_tls *ts = &run->tls;

	snprintf(r->source, sizeof(r->source), "%s", ts->s.local);
	judge_service(r, ts);
	if (ts->s.banner.code != 220 || !ts->s.eh.valid) {
		/* Without a working session nothing else is known. */
		for (int id = CHK_BANNER; id <= CHK_POSTMASTER; id++)
			if (!r->check[id].set)
				audit_set(r, (enum audit_check_id)id, AUDIT_NOT_TESTED,
				    "not tested: the SMTP session failed");
		judge_banner(r, ts);
		return;
	}
	judge_banner(r, ts);
	judge_ehlo(r, ts);
	judge_help(r, &run->vrfy);
	judge_lookup(r, CHK_VRFY, &run->vrfy, ts->s.eh.vrfy);
	judge_lookup(r, CHK_EXPN, &run->expn, true);
	probe_judge_tls(r, run, mx, nmx);
	judge_auth(r, ts);
	judge_relay(r, &run->relay);
	judge_postmaster(r, &run->pm);
}
