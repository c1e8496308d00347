/*
 * probe_int: what the probe's sessions (probe.c) leave for its judges
 * (probe_judge.c). The sessions only record; every verdict is made after
 * all of them have ended, from these records.
 */
#ifndef MP_AUDIT_PROBE_INT_H
#define MP_AUDIT_PROBE_INT_H

#include "probe.h"

/* The address XCLIENT claims: TEST-NET-3, never in anyone's mynetworks. */
#define PROBE_XCLIENT_ADDR "203.0.113.25"

/* VRFY/EXPN names: the likely-real ones first, then the random ones. */
#define PROBE_NREAL     5
#define PROBE_NRANDOM   2
#define PROBE_NLOOKUP   (PROBE_NREAL + PROBE_NRANDOM)

#define PROBE_MAX_RELAY 12

/* One command of a session and its reply. */
struct probe_step {
	char cmd[320];
	enum smtp_err err;
	int code;
	char *text;             /* printable reply text, lines joined */
};

struct probe_session {
	const struct audit_probe_opts *o;
	struct smtp_conn *c;
	enum smtp_err err;      /* first error that ended the session */
	char errtext[300];
	char where[64];         /* what we were doing then */
	unsigned long long connect_ms;
	struct smtp_reply banner, ehlo;
	struct audit_ehlo eh;
	char local[64], peer[64];
};

/* Session A: banner, EHLO, STARTTLS (with the injection test), EHLO again. */
struct probe_tls {
	struct probe_session s;
	bool tried;
	struct smtp_reply starttls;
	enum smtp_err tls_err;
	char tls_errtext[300];
	size_t leftover;
	bool injected;
	struct smtp_tls_info info;
	bool name_checked, name_ok;
	char name_used[256];
	struct smtp_reply ehlo2;
	struct audit_ehlo eh2;
	enum smtp_err ehlo2_err;
};

/* Session B or C: HELP (B only), then VRFY or EXPN with real and random names. */
struct probe_lookup {
	struct probe_session s;
	const char *verb;
	bool help;
	struct probe_step help_step;
	char names[PROBE_NLOOKUP][32];
	struct probe_step step[PROBE_NLOOKUP];
	size_t nsteps;
};

/* Session D: relay forms from an untrusted source. */
struct probe_relay {
	struct probe_session s;
	const char *foreign;            /* the probe's destination, NULL: none usable */
	const char *mode;               /* how the source was made untrusted */
	bool trusted;                   /* the test could only come from a trusted source */
	char trust_why[200];
	struct audit_relay_try t[PROBE_MAX_RELAY];
	size_t n;
	char xclient_reply[300];
};

struct probe_run {
	struct probe_tls tls;
	struct probe_lookup vrfy, expn;
	struct probe_relay relay;
};

/* The first word of a banner or EHLO line, printable: the name the server gives. */
void audit_first_word(const char *line, char *out, size_t outlen);

/* Judges every SMTP check from the records of a finished run. */
void probe_judge(struct audit_report *r, const struct probe_run *run);

#endif
