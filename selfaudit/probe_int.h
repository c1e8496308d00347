/*
 * probe_int: what the probe's sessions (probe.c, probe_tls.c) leave for
 * its judges (probe_judge.c, probe_judge_tls.c). The sessions only
 * record; every verdict is made after all of them have ended, from these
 * records.
 */
#ifndef MP_AUDIT_PROBE_INT_H
#define MP_AUDIT_PROBE_INT_H

#include "probe.h"

#define PROBE_EHLO_NAME "mailposture-audit.invalid"

/* The address XCLIENT claims: TEST-NET-3, never in anyone's mynetworks. */
#define PROBE_XCLIENT_ADDR "203.0.113.25"

/* VRFY/EXPN names: the likely-real ones first, then the random ones. */
#define PROBE_NREAL     5
#define PROBE_NRANDOM   2
#define PROBE_NLOOKUP   (PROBE_NREAL + PROBE_NRANDOM)

#define PROBE_MAX_RELAY 12
/* Sendmail slows down from the sixth VRFY or EXPN of a session on
 * (MAXVRFYCOMMANDS): a new connection after five. */
#define PROBE_LOOKUP_PER_CONN 5

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
	struct audit_chain chain;       /* what the server sent after STARTTLS */
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

/* A session from a source the server does not trust, when there is one. */
struct probe_untrusted {
	struct probe_session s;
	const char *mode;               /* how the source was made untrusted */
	bool trusted;                   /* only a trusted source was available */
	char trust_why[200];
	char xclient_reply[300];
};

/* Session D: relay forms from an untrusted source. */
struct probe_relay {
	struct probe_untrusted u;
	const char *foreign;            /* the probe's destination, NULL: none usable */
	struct audit_relay_try t[PROBE_MAX_RELAY];
	size_t n;
};

/* Session E: RCPT TO postmaster@ and abuse@ of our domain, and a random
 * local part that shows whether acceptance means anything. */
enum { PM_POSTMASTER, PM_ABUSE, PM_CONTROL, PM_COUNT };
struct probe_postmaster {
	struct probe_untrusted u;
	bool tried;
	int mail_code;
	char mail_text[256];
	char rcpt[PM_COUNT][300];
	int code[PM_COUNT];             /* 0: not asked */
	char text[PM_COUNT][256];
};

/* The STARTTLS sessions that try one protocol version or cipher class. */
enum probe_tlsv_kind {
	TLSV_10,            /* TLS 1.0 only */
	TLSV_11,            /* TLS 1.1 only */
	TLSV_NULL,          /* NULL ciphers only: no encryption */
	TLSV_STATIC,        /* static RSA key exchange only: no forward secrecy */
	TLSV_PREF,          /* TLS 1.2, our default order */
	TLSV_PREF_REV,      /* TLS 1.2, that order reversed */
	TLSV_COUNT
};

struct probe_tlsv {
	struct probe_session s;
	enum probe_tlsv_kind kind;
	struct smtp_tls_opts to;
	char *ciphers;                  /* owned, when to.ciphers is built */
	bool tried;
	enum smtp_err err;              /* SMTP_OK: the handshake succeeded */
	char errtext[300];
	struct smtp_tls_info info;
};

struct audit_probe {
	struct probe_tls tls;
	struct probe_lookup vrfy, expn;
	struct probe_relay relay;
	struct probe_postmaster pm;
	struct probe_tlsv tlsv[TLSV_COUNT];
};

/* probe.c: a session's life, shared by every thread. */
/* Connects, reads the banner, says EHLO. False when the session ended. */
bool probe_session_open(struct probe_session *s);
/* Says QUIT when the session is still good, and closes it. */
void probe_session_close(struct probe_session *s);
/* Records the first error that ended the session and where. */
void probe_session_fail(struct probe_session *s, enum smtp_err e, const char *where);

/* probe_tls.c: the STARTTLS sessions. */
void *probe_tls_thread(void *arg);
void *probe_tlsv_thread(void *arg);
/* Sets up a variant session; probe_tlsv_clear closes it and frees what it holds. */
void probe_tlsv_init(struct probe_tlsv *v, enum probe_tlsv_kind kind,
    const struct audit_probe_opts *o);
void probe_tlsv_clear(struct probe_tlsv *v);
const char *probe_tlsv_label(enum probe_tlsv_kind kind);

/* The first word of a banner or EHLO line, printable: the name the server gives. */
void audit_first_word(const char *line, char *out, size_t outlen);

/* probe_judge_tls.c: STARTTLS, the certificate, injection, protocols and
 * ciphers, for audit_probe_judge (probe_judge.c). */
void probe_judge_tls(struct audit_report *r, const struct audit_probe *run,
    const char *const *mx, size_t nmx);

#endif
