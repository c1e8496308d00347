/*
 * aggregate_int: what the parts of "mailposture-report aggregate" share.
 * aggregate.c reads the rows that the milter's script counted
 * (policy/store_report.h) and groups them into reports, one per policy
 * domain, day and policy; aggregate_xml.c writes a report as an RFC
 * 9990 document, with its report id, file name and gzip form;
 * aggregate_send.c mails it to the destinations its policy allows.
 */
#ifndef MP_REPORT_AGGREGATE_INT_H
#define MP_REPORT_AGGREGATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "dns.h"
#include "domain.h"
#include "store_report.h"
#include "util.h"

#define AGG_ADDR_MAX 256            /* a mailbox, user@domain */
#define AGG_ID_HASH_BYTES 16        /* of the SHA-256 in a report id: 128 bits */
#define AGG_ID_LEN (8 + 2 * AGG_ID_HASH_BYTES)  /* yyyymmdd and that hash in hex */
#define AGG_ID_MAX (AGG_ID_LEN + 1)
#define AGG_TEXT_MAX 200            /* org_name, extra_contact_info */

/* The [report] section. */
struct agg_conf {
	char org_name[AGG_TEXT_MAX];
	char email[AGG_ADDR_MAX];
	char extra_contact_info[AGG_TEXT_MAX];
	char from[AGG_ADDR_MAX];        /* [report] from, else email */
	char submitter[MP_DOMAIN_MAX];  /* the domain of from: the receiver in names */
	char sendmail[AGG_TEXT_MAX];
	int max_destinations;
};

/* One row of a report: the ROW encoding (store_report.h) and its messages. */
struct agg_row {
	const char *row;
	long long count;
};

struct agg_report {
	char domain[MP_DOMAIN_MAX];     /* the policy domain */
	char day[9];                    /* yyyymmdd, UTC */
	time_t begin, end;              /* the day's first and last second */
	char pid[MP_REPORT_PID_LEN + 1];
	const char *policy_text;        /* as stored (store_report.h); NULL = "" */
	struct mp_report_policy policy;
	long long messages;             /* the rows' counts added up */
	long long overflow;             /* messages left out: past [report] max_rows */
	long long unreadable;           /* messages of rows that could not be read */
	char id[AGG_ID_MAX];            /* the Report-ID, which is the file's unique-id */
	const struct agg_row *rows;
	size_t nrows;
};

/* ---- aggregate_xml.c ---- */

/* Appends s as XML character data: markup escaped, bytes that XML 1.0
 * cannot hold (control bytes, invalid UTF-8) as '?'. */
void agg_xml_escape(struct mp_buf *out, const char *s);
/* The report's id: the day and a SHA-256 of the submitter, domain, day
 * and policy; the same on every run and every host, lowercase hex
 * digits only (RFC 9990's unique-id). */
void agg_report_id(const struct agg_conf *c, struct agg_report *r);
/* receiver!policy-domain!begin!end!unique-id.xml.gz (RFC 9990). */
void agg_file_name(const struct agg_conf *c, const struct agg_report *r, char *buf, size_t len);
/* The document into out; the number of records written (rows that could
 * not be read are left out and added to r->unreadable first). */
size_t agg_xml_document(const struct agg_conf *c, struct agg_report *r, struct mp_buf *out);
/* in, gzip-compressed, into out (no file name, time 0: the same bytes
 * on every run). False when zlib fails. */
bool agg_gzip(const void *in, size_t len, struct mp_buf *out);

/* ---- aggregate_send.c ---- */

/* user@domain with an RFC 5322 dot-atom local part and a valid domain,
 * lowercased into out; false otherwise. */
bool agg_address(const char *in, size_t len, char out[AGG_ADDR_MAX]);
/* The mailto: addresses of a rua list, in order, at most max. */
size_t agg_rua_mailtos(const char *rua, char (*out)[AGG_ADDR_MAX], size_t max);

/* The DNS questions of RFC 9990 3, so that tests can answer them. */
struct agg_lookup {
	void *ctx;
	/* The Organizational Domain of name (RFC 9989 4.10.2); false when a
	 * lookup failed and it cannot be told now. */
	bool (*org)(void *ctx, const char *name, char out[MP_DOMAIN_MAX]);
	/* The TXT records at name; never NULL, freed by the caller. */
	struct mp_dns_result *(*txt)(void *ctx, const char *name);
};

/*
 * The DNS of one --send run, over inner: each name is asked once (a
 * failure too: it is asked again on the next run), and once the run has
 * waited budget_ms for answers in all, nothing more is asked. A sender
 * whose DNS answers slowly thus costs the run a bounded time.
 */
struct agg_dns;
struct agg_dns *agg_dns_new(const struct agg_lookup *inner, unsigned long long budget_ms);
void agg_dns_free(struct agg_dns **dp);
/* What agg_destination asks: the cache. */
const struct agg_lookup *agg_dns_lookup(const struct agg_dns *d);
/* False once the budget is spent. */
bool agg_dns_budget_left(const struct agg_dns *d);

enum agg_dest {
	AGG_DEST_OK,        /* send to the addresses given back */
	AGG_DEST_DENIED,    /* an external destination that did not authorize it */
	AGG_DEST_RETRY,     /* a lookup failed: try again on the next run */
};

/*
 * Verifying External Destinations (RFC 9990 3) for one rua address of
 * policy_domain: when the address's host has another Organizational
 * Domain than policy_domain, a v=DMARC1 TXT record at
 * POLICY-DOMAIN._report._dmarc.HOST must authorize it, and its own rua
 * (on that host only) replaces the address. out gets at most max
 * addresses; why says what was decided, for the log.
 */
enum agg_dest agg_destination(const struct agg_lookup *lk, const char *policy_domain,
    const char *addr, char (*out)[AGG_ADDR_MAX], size_t max, size_t *n_r, char *why,
    size_t whylen);

/* The report mail to one address (RFC 9990 2.6.2: the Subject, the
 * gzip attachment named file). */
void agg_message(const struct agg_conf *c, const struct agg_report *r, const char *to,
    const char *file, const struct mp_buf *gz, time_t now, struct mp_buf *out);

/* What one run of --send did: destinations, and reports left. */
struct agg_sent {
	unsigned sent, already, denied, failed;
	unsigned left;          /* reports not looked at: the DNS budget was spent */
};

/*
 * The markers that make each report go once to each destination, kept
 * where every run and every host sees them (Redis: aggregate.c), per
 * report id and policy domain. take: 1 taken now, 0 taken before (sent,
 * or being sent elsewhere), -1 the store failed; give_back after a
 * failed send, so the next run tries again (it takes back the report's
 * done mark too; false: the store failed). done: 1 when every
 * destination of the report was handled by an earlier run (*n_r: how
 * many were sent to), 0 not, -1 the store failed; set_done says so.
 */
struct agg_marks {
	void *ctx;
	int (*take)(void *ctx, const struct agg_report *r, const char *addr);
	bool (*give_back)(void *ctx, const struct agg_report *r, const char *addr);
	int (*done)(void *ctx, const struct agg_report *r, unsigned *n_r);
	bool (*set_done)(void *ctx, const struct agg_report *r);
};

/*
 * Sends report r (its gzip document gz, named file) to every destination
 * its rua allows, at most [report] max_destinations, each once: the
 * marker is taken before sending and given back when sending fails. A
 * report done before costs no DNS; once the run's DNS budget is spent, a
 * report is left for the next run. False when the marker store failed.
 */
bool agg_send_report(const struct agg_conf *c, struct agg_dns *dns,
    const struct agg_marks *mk, const struct agg_report *r, const char *file,
    const struct mp_buf *gz, time_t now, struct agg_sent *st);

#endif
