/*
 * audit: the report of mailposture-audit. Every check has a fixed slot,
 * a weight and a "why"; the probes fill in the status, a one-line
 * finding, the evidence (raw replies and records, printable) and the fix.
 * grade.c turns the slots into a score, render.c into text or JSON.
 */
#ifndef MP_AUDIT_H
#define MP_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h"
#include "util.h"

enum audit_status {
	AUDIT_NOT_TESTED,   /* could not be run: out of both sides of the score */
	AUDIT_PASS,
	AUDIT_WARN,
	AUDIT_FAIL,
	AUDIT_INFO,         /* shown, never scored */
};

const char *audit_status_str(enum audit_status s);   /* "PASS", "NOT TESTED", ... */

enum audit_check_id {
	CHK_SMTP,           /* the service answers like an SMTP server */
	CHK_BANNER,
	CHK_HOSTNAME,       /* the banner's name against PTR and forward DNS */
	CHK_EHLO,
	CHK_HELP,
	CHK_VRFY,
	CHK_EXPN,
	CHK_STARTTLS,
	CHK_TLS_CERT,
	CHK_TLS_PROTOCOLS,
	CHK_TLS_CIPHERS,
	CHK_TLS_INJECT,
	CHK_DANE_MATCH,     /* TLSA records against the chain served */
	CHK_AUTH,
	CHK_RELAY,
	CHK_POSTMASTER,     /* postmaster@ and abuse@ accepted */
	CHK_MX,
	CHK_MX_PTR,         /* forward-confirmed reverse DNS of every MX address */
	CHK_PTR,
	CHK_SPF,
	CHK_DMARC,
	CHK_DMARC_REPORT,
	CHK_SPOOF,
	CHK_MTASTS,
	CHK_MTASTS_POLICY,
	CHK_TLSRPT,
	CHK_DANE,
	CHK_DNSBL,
	CHK_POSTCONF,
	CHK_MILTER,
	CHK_PSL,
	CHK_RESOLVER,
	CHK_REDIS,
	CHK_COUNT
};

/* Grade caps, worst last. */
enum audit_cap {
	CAP_NONE,
	CAP_C,
	CAP_D,
	CAP_F,
};

struct audit_check_def {
	const char *id;     /* stable key for JSON and tests: "smtp.vrfy" */
	const char *name;   /* "VRFY Command Exposure" */
	int weight;
	const char *why;    /* why it matters */
	/* The cap a FAIL of this check can bring (the judge says when, with
	 * audit_cap), and the report's line for it: "capped at C: ...". */
	enum audit_cap cap;
	const char *cap_why;
};

extern const struct audit_check_def audit_defs[CHK_COUNT];

struct audit_check {
	enum audit_status status;
	bool set;                   /* a probe has judged it */
	char finding[512];          /* printable, one line */
	struct mp_buf evidence;     /* printable lines, '\n'-separated */
	char fix[512];
	enum audit_cap cap;
};

struct audit_report {
	struct audit_check check[CHK_COUNT];
	char host[256];
	char port[16];
	char domain[MP_DOMAIN_MAX];
	char public_ip[64];
	char source[64];            /* where the probes came from */
	char banner_name[256];      /* first word of the banner, printable */
	char helo_name[256];        /* the name in the EHLO reply */
	/* grade.c */
	int score;                  /* 0..100, -1 when nothing could be scored */
	double earned, possible;
	char grade[3];
	enum audit_cap cap;
	const char *cap_reason;     /* the cap_why of the check that capped, or NULL */
	unsigned long long elapsed_ms, smtp_ms, dns_ms;
	bool stored;                /* main.c: the result was written to Redis */
};

void audit_report_init(struct audit_report *r);
void audit_report_clear(struct audit_report *r);

/* src[0..len) made printable (mp_printable, at most max bytes of it) into dst. */
void audit_printable(char *dst, size_t dstlen, const char *src, size_t len, size_t max);

/* Appends an item to a list for a finding, after sep when the list is not empty. */
void audit_list_add(struct mp_buf *list, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Judges a check; the last call wins (each check is judged in one place). */
void audit_set(struct audit_report *r, enum audit_check_id id, enum audit_status st,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void audit_fix(struct audit_report *r, enum audit_check_id id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds one evidence line; fmt's output is passed through mp_printable. */
void audit_evidence(struct audit_report *r, enum audit_check_id id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The FAIL just set on id brings the cap of its row in audit_defs. */
void audit_cap(struct audit_report *r, enum audit_check_id id);

/* grade.c: score, caps and letter; and the letter order for --fail-under. */
void audit_grade(struct audit_report *r);
const char *audit_letter(int score);
/* Rank of a letter: 0 for A+ ... 12 for F, -1 when it is not a grade. */
int audit_grade_rank(const char *grade);

/* render.c */
void audit_render_text(const struct audit_report *r, struct mp_buf *out);
char *audit_render_json(const struct audit_report *r);  /* caller frees */

#endif
