/*
 * store_report: what the per-message script counts for DMARC aggregate
 * reports (RFC 9990), and how mailposture-report reads it back.
 *
 * A message that a DMARC record judged (pass or fail) adds one to its
 * row in the policy domain's rows of the day:
 *
 *	P ar:{org}:POLICYDOMAIN:DAY   hash  "PID ROW" -> messages
 *	P am:{org}:POLICYDOMAIN:DAY   hash  "policy:PID" -> the policy text,
 *	                                    "overflow" -> messages left out
 *
 * {org} is the hash tag of the message's other keys, so the script
 * still touches one slot; one policy domain may thus have rows under
 * several tags, and the reader adds them up. PID names the policy as
 * published (a record changed during the day gives a second PID, and a
 * second report). ROW is the RFC 9990 record without its count, in the
 * encoding below; a new ROW past [report] max_rows distinct rows is not
 * kept but counted in "overflow" (and a policy text with no row kept is
 * not kept either).
 */
#ifndef MP_STORE_REPORT_H
#define MP_STORE_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "dkim.h"
#include "dmarc.h"
#include "domain.h"
#include "util.h"

#define MP_REPORT_MAX_ROWS 10000    /* [report] max_rows default */
#define MP_REPORT_PID_LEN 8         /* hex digits of a policy id */
/* Signatures a row keeps, the first in RFC 9990's order: a sender who
 * signs each message many times over with changing selectors must not
 * grow every row (and the report) by each of them. */
#define MP_REPORT_DKIM_MAX 4
/* Seconds a day's rows are kept (or [redis] ttl_day when shorter): its
 * reports go out the next day and are tried again for two more. */
#define MP_REPORT_TTL 604800

/* What a record keeps for the report (inside struct mp_store_record). */
struct mp_store_report {
	char policy_domain[MP_DOMAIN_MAX];  /* where the record was found; "" = not reported */
	char envelope_from[MP_DOMAIN_MAX];  /* the domain SPF checked the MAIL FROM of
	                                     * (the HELO name for the null sender) */
	char spf_domain[MP_DOMAIN_MAX];     /* the domain whose SPF record was evaluated */
	enum mp_dmarc_policy p, sp, np;     /* as published (sp, np UNSET when absent) */
	bool adkim_strict, aspf_strict, testing, fo_present;
	char rua[512];                      /* printable, "" when absent */
};

struct mp_store_record;
struct mp_store_options;

/* The [report] options the store needs: max_rows, and from (the report
 * sender, whose own mail is not counted). */
void mp_store_report_options_from_conf(const struct mp_conf *c, struct mp_store_options *o);

/*
 * The capture's share of one message's EVALSHA: two KEYS that follow
 * the message's own and three ARGV that come last (store.lua reads them
 * from the end). False when the message is not reported: no policy
 * domain, a tempfail (the sender retries and is counted then), no
 * usable client address, or the report sender's own mail. The strings
 * stay valid until the next call on the same thread.
 */
struct mp_store_report_args {
	const char *keys[2];
	const char *argv[3];
	size_t argvlen[3];
};
bool mp_store_report_args(const struct mp_store_options *o, const struct mp_store_record *r,
    const char *org, struct mp_store_report_args *out);

/* ---- the encodings, for the writer and the reader ------------------- */

/*
 * ROW: words separated by one space, empty words allowed:
 *   IP HEADER_FROM ENVELOPE_FROM SPF_DOMAIN SPF_RESULT DKIM_ALIGNED
 *   SPF_ALIGNED DISPOSITION REASONS [DKIM_DOMAIN SELECTOR RESULT]...
 * aligned words are 0 or 1, DISPOSITION the one applied (none,
 * quarantine, reject), REASONS "-" or letters: l (local policy: the
 * disposition applied differs from the one DMARC asked for), t (t=y
 * lowered it). Signatures come strict-aligned passes first, then
 * relaxed-aligned passes, other passes, the rest (RFC 9990 2.1.2), at
 * most MP_REPORT_DKIM_MAX of them.
 * ENVELOPE_FROM, SPF_DOMAIN and a DKIM_DOMAIN equal to HEADER_FROM are
 * written "=": rows are most of the report keys' memory.
 */
struct mp_report_row {
	char ip[64];
	char header_from[MP_DOMAIN_MAX], envelope_from[MP_DOMAIN_MAX], spf_domain[MP_DOMAIN_MAX];
	char spf[16];
	bool dkim_aligned, spf_aligned;
	char disposition[16];
	bool local_policy, testing;
	size_t ndkim;
	struct mp_report_dkim {
		char domain[MP_DOMAIN_MAX];
		char selector[MP_DKIM_SELECTOR_MAX];
		char result[16];
	} dkim[MP_DKIM_MAX];
};

/* The ROW of a record into out (reset first); false when not reported. */
bool mp_store_report_row(const struct mp_store_record *r, struct mp_buf *out);
/* Reads a ROW back; false when any word is not what the writer writes. */
bool mp_store_report_row_parse(const char *row, size_t len, struct mp_report_row *out);

/*
 * The policy text: "p=P sp=SP np=NP adkim=A aspf=A t=T fo=0|1
 * disc=treewalk rua=RUA" (sp, np empty when absent; rua last, up to the
 * end), and its PID, MP_REPORT_PID_LEN lowercase hex digits of its hash.
 */
struct mp_report_policy {
	char p[12], sp[12], np[12];
	char adkim, aspf, testing;          /* 'r'/'s', 'r'/'s', 'y'/'n' */
	bool fo_present;
	char rua[512];
};
void mp_store_report_policy(const struct mp_store_report *rep, struct mp_buf *out);
bool mp_store_report_policy_parse(const char *text, struct mp_report_policy *out);
void mp_store_report_pid(const char *text, size_t len, char pid[MP_REPORT_PID_LEN + 1]);
/* Whether s[0..len) is a PID as the writer makes it: the reader trusts
 * nothing else that it finds in Redis to name a policy. */
bool mp_store_report_pid_ok(const char *s, size_t len);

/* FNV-1a, 32 bits: the policy id, and where no one gains by a collision
 * (a Message-ID's part, a hash table's bucket). */
unsigned long mp_store_report_hash(const void *p, size_t len, unsigned long h);
#define MP_REPORT_HASH_INIT 2166136261UL

#endif
