/*
 * probe: the SMTP side of the audit. Parsers and judges are pure
 * functions (tested by tables in tests/unit/test_audit_probe.c); the
 * probe itself runs its sessions in parallel threads, each on its own
 * connection so that one server's error limits never spill into the
 * next test. probe_parse.c reads replies and settings, probe.c and
 * probe_tls.c run the sessions, probe_judge.c and probe_judge_tls.c turn
 * what they saw into checks.
 */
#ifndef MP_AUDIT_PROBE_H
#define MP_AUDIT_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "smtp.h"

#define AUDIT_MAX_AUTH 16

struct audit_ehlo {
	bool valid;
	char name[256];                 /* the server's name on the first line, printable */
	bool starttls, pipelining, vrfy, etrn, xclient, smtputf8, chunking, dsn, eightbitmime;
	bool has_size;
	unsigned long long size;
	char auth[256];                 /* mechanisms, uppercase, deduplicated, space separated */
	int nauth;
	bool auth_plaintext;            /* PLAIN or LOGIN among them */
	char xclient_attrs[256];        /* uppercase, space separated */
	char keywords[512];             /* every keyword, printable, for the evidence */
};

/*
 * Parses an EHLO reply: the first line's name, then one keyword per line
 * with its parameters, both "AUTH mech..." and the old "AUTH=mech...".
 * Mechanism names that are not [A-Z0-9_-]{1,20} are dropped. False when
 * the reply is not a 250.
 */
bool audit_ehlo_parse(const struct smtp_reply *r, struct audit_ehlo *e);

/*
 * Looks for a software name or a version number in banner or HELP text.
 * True and a printable description in what when something is disclosed;
 * dotted-quad addresses are not versions.
 */
bool audit_text_discloses(const char *text, char *what, size_t whatlen);
/*
 * The same for the text of one reply with its code (lines joined by
 * " / "): a three-part number is an enhanced status code, not a version,
 * only as the first word of a line and with the reply's class digit
 * ("220 mx ESMTP Exim 4.94.2" discloses; "214 2.0.0 Topics" does not).
 * audit_text_discloses is this with code 0: any class 2, 4 or 5.
 */
bool audit_reply_discloses(int code, const char *text, char *what, size_t whatlen);
/* True when text names known MTA software (without a version). */
bool audit_text_names_software(const char *text, char *what, size_t whatlen);

/* One answer to VRFY/EXPN. */
struct audit_answer {
	const char *arg;        /* the name asked for */
	bool real;              /* a likely-real name (postmaster, root...) */
	enum smtp_err err;      /* SMTP_OK when a reply came */
	int code;
	const char *text;       /* the reply text, lines joined; NULL on error */
};

/*
 * The verdict from comparing answers: uniform answers to real and random
 * names PASS, answers that differ FAIL (users can be enumerated). A real
 * name's answer is uniform when it is the random names' answer with the
 * real name where that one echoes the random name as a whole token; the
 * real name as a word of the text ("root of the problem") is no echo. Random
 * names answered differently among themselves WARN (no conclusion, even
 * when real names differ too: trace ids make every reply unique), no
 * usable answers NOT TESTED. finding gets a printable one-liner.
 */
enum audit_status audit_judge_lookup(const char *cmd, const struct audit_answer *a, size_t n,
    char *finding, size_t findinglen);

/* One relay form tried. */
struct audit_relay_try {
	const char *form;       /* "plain", "%-hack", ... */
	char mail[300], rcpt[300];
	bool foreign;           /* the final domain is not ours: acceptance relays */
	enum smtp_err err;
	int mail_code, rcpt_code;
	char mail_text[256], rcpt_text[256];
};

/*
 * FAIL when an untrusted source got a 2xx to RCPT for a foreign address;
 * WARN when only addresses in our own domain that encode a foreign one
 * were accepted; PASS when every RCPT (or its MAIL) got 4xx/5xx.
 */
enum audit_status audit_judge_relay(const struct audit_relay_try *t, size_t n,
    char *finding, size_t findinglen);

/* Builds the relay forms for our domain (may be "") and a foreign one. */
size_t audit_relay_forms(const char *own, const char *foreign, struct audit_relay_try *t, size_t max);

/*
 * True when addr (text) falls in one of the networks of a Postfix
 * mynetworks value ("127.0.0.0/8 [::1]/128 192.0.2.4, ..."). Entries it
 * cannot judge (files, maps) are skipped.
 */
bool audit_addr_in_networks(const char *addr, const char *networks);
/* True when a mynetworks value holds a network wider than /8 (v4) or /16 (v6). */
bool audit_networks_too_wide(const char *networks, char *which, size_t whichlen);

struct audit_probe_opts {
	const char *host, *port;
	const char *source;         /* --source, or NULL */
	unsigned timeout_ms;
	const char *domain;         /* our domain, "" when unknown */
	const char *mynetworks;     /* from postconf, or NULL */
	const char *tls_name;       /* name the certificate should carry, or NULL */
	const char *ca_file;        /* CAs trusted beside the system's, or NULL */
	/* Domains the server accepts mail for (postconf mydestination,
	 * relay_domains, virtual_*_domains), or NULL: the relay probe never
	 * sends to one of them, where accepting is no relay at all. */
	const char *served;
};

/* The relay probe's destination: the first of example.net, example.com
 * and example.org that is neither served nor our own domain; NULL when
 * none is left. */
const char *audit_relay_foreign(const char *served, const char *own);

struct audit_probe;

/*
 * Runs every SMTP session, in parallel threads: the STARTTLS session,
 * HELP and VRFY, EXPN, the relay forms, postmaster@ and abuse@, and one
 * STARTTLS session for each TLS version and cipher class tried. o must
 * outlive the result. Never NULL.
 */
struct audit_probe *audit_probe_run(const struct audit_probe_opts *o);
/*
 * Judges every SMTP check into r from a finished run. mx[] are the MX
 * host names this server is (audit_dns_server_mx): the certificate must
 * be valid for each of them, as MTA-STS and DANE-TA senders check.
 */
void audit_probe_judge(struct audit_report *r, const struct audit_probe *p,
    const char *const *mx, size_t nmx);
/* The certificates served after STARTTLS, leaf first (empty: no TLS session). */
const struct audit_chain *audit_probe_chain(const struct audit_probe *p);
/* The name the server gave in its EHLO reply, "" when none. */
const char *audit_probe_ehlo_name(const struct audit_probe *p);
void audit_probe_free(struct audit_probe **pp);

#endif
