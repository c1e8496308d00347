/*
 * store: the Redis verdict and score cache, over hiredis 0.14.
 *
 * Writing (the milter): one struct mp_store per process. It owns a
 * bounded queue and one writer thread with its own Redis connection.
 *
 *	struct mp_store_options o;
 *	mp_store_options_from_conf(conf, &o);          // [redis] section
 *	struct mp_store *st = mp_store_new(&o, err, sizeof(err));
 *	                                                 // NULL + err = "" when
 *	                                                 // address is "" (disabled)
 *	...at end of message (never blocks, never touches the network):
 *	struct mp_store_record r;
 *	mp_record_build(&r, result, &msg, applied, myhostname, queue_id, now);
 *	                                                 // record.h
 *	mp_store_submit(st, &r);                         // false: dropped, counted
 *	...at exit:
 *	mp_store_free(&st);                              // drains for up to timeout
 *
 * The writer sends one EVALSHA per message (the script, store.lua,
 * updates every key of the message atomically, all in its {org} slot)
 * and pipelines whatever is queued: a batch of up to MP_STORE_BATCH
 * messages costs one network round trip. It reconnects with exponential
 * backoff after any error and, on every new connection, redoes AUTH,
 * SELECT and SCRIPT LOAD. A write interrupted by a connection error is
 * retried after the reconnect: the script is idempotent per (host,
 * queue id). The deployment is one server ([redis] address), the master
 * Sentinel names (sentinels, master_name: failovers followed, batches
 * confirmed by a replica with WAIT), or a Cluster (cluster: slot map,
 * MOVED, ASK, TRYAGAIN; the installation's counters split per slot).
 *
 * Posture sharing: the milter's posture cache (redis_pcache.h) publishes
 * its scores and takes the others' through the writer thread
 * (mp_store_share_posture, mp_store_share_sink). mp_store_get_posture()
 * reads one score synchronously, for tools. The report tool routes by
 * key through mp_store_locate() and builds key names with
 * mp_store_key_*().
 *
 * The key schema is documented in README ("Redis key schema").
 */
#ifndef MP_STORE_H
#define MP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "decide.h"
#include "dkim.h"
#include "dmarc.h"
#include "domain.h"
#include "spf.h"
#include "store_report.h"

#define MP_STORE_BATCH 256          /* messages per pipelined round trip, at most */
#define MP_STORE_RECENT 200         /* recent message keys kept per domain */
#define MP_STORE_HALFLIFE 604800    /* seconds: half-life of the observed auth score */
#define MP_STORE_NO_DOMAIN "(none)" /* the domain a message without a From domain counts under */

struct mp_store_options {
	char address[512];          /* "" disabled; "host:port", "[v6]:port", "/unix/path" */
	char password_file[1024];   /* "" no AUTH; read again on every connect */
	int db;                     /* 0..15 */
	char key_prefix[64];        /* "mp:"; no '{', '}' or whitespace */
	unsigned timeout_ms;        /* connect and command timeout */
	long ttl_message;           /* seconds */
	long ttl_domain;
	long ttl_day;
	size_t queue_size;          /* messages waiting for the writer, at most */
	unsigned drop_log_interval_s;   /* at most one drop/error log line per interval */
	unsigned backoff_min_ms, backoff_max_ms;   /* reconnect backoff */
	unsigned read_timeout_ms;   /* mp_store_get_posture: short, it runs on the SMTP path */
	long halflife;              /* seconds; MP_STORE_HALFLIFE */
	char sentinels[1024];       /* "" none; else "host:port ..." asked for master_name */
	char master_name[128];
	bool read_replica;          /* read_from = replica: mailposture-report reads a replica */
	unsigned replica_wait_ms;   /* with sentinels: WAIT 1 this long after a batch; 0 none */
	char cluster[1024];         /* "" none; else Cluster nodes "host:port ..." */
	bool share_posture;         /* publish scores, and bring the other hosts' in */
	long report_max_rows;       /* [report] max_rows; 0: MP_REPORT_MAX_ROWS */
	char report_from[256];      /* [report] from: its own mail is not reported on */
};

/* Defaults (address "" = disabled, the other values as in the [redis] table). */
void mp_store_options_defaults(struct mp_store_options *o);
/* The [redis] section of a loaded config, over the defaults. */
void mp_store_options_from_conf(const struct mp_conf *c, struct mp_store_options *o);
/* False + reason when an option is unusable (bad address, prefix, ranges). */
bool mp_store_options_check(const struct mp_store_options *o, char *err, size_t errlen);
/* True when o names a Redis: an address, sentinels or cluster nodes. */
bool mp_store_options_enabled(const struct mp_store_options *o);

/* One message verdict as it is stored. Strings are copied (and cut) into
 * the record, so it owns nothing and may be copied with '='. */
struct mp_store_record {
	char host[256];             /* our host name: (host, queue_id) is the message's identity */
	char queue_id[64];
	time_t time;                /* when the message was judged (UTC seconds) */
	char ip[64];
	/* Display only (shown by mailposture-report, cut to fit): no key
	 * and no decision is ever made from them, but for recognising the
	 * report sender's own mail (store_report.c). */
	char helo[256];
	char mail_from[512];
	char from_domain[MP_DOMAIN_MAX];   /* "" when the message had none */
	char org_domain[MP_DOMAIN_MAX];    /* "" = same as from_domain */
	enum mp_spf_result spf;
	enum mp_dmarc_result dmarc;
	bool spf_aligned, dkim_aligned;    /* DMARC's: an aligned pass under its record */
	enum mp_dmarc_policy policy;       /* the policy that applied (p, sp or np) */
	enum mp_dmarc_policy published;    /* the p= the domain publishes, UNSET when none */
	enum mp_dmarc_policy disposition;
	enum mp_action action;
	size_t ndkim;               /* one per DKIM-Signature verified here */
	struct mp_store_dkim {
		char domain[MP_DOMAIN_MAX];
		char selector[MP_DKIM_SELECTOR_MAX];
		enum mp_dkim_result result;
		bool aligned;           /* d= aligns with the From domain */
	} dkim[MP_DKIM_MAX];
	int posture_score;          /* 0..100, or -1 when not known */
	char posture_grade[3];      /* "" when not known */
	struct mp_store_report rep; /* the aggregate report's part (store_report.h) */
};

/* Zeroes r and marks the posture unknown. */
void mp_store_record_init(struct mp_store_record *r);

struct mp_store;

/*
 * Starts the writer thread; it connects in the background, so a Redis
 * that is down does not stop the caller. NULL when o->address is ""
 * (err = "") or the options are unusable (err says why).
 */
struct mp_store *mp_store_new(const struct mp_store_options *o, char *err, size_t errlen);

/*
 * Stops the writer. Waits up to timeout_ms (0: the store's timeout) for
 * the queue to drain; what is left is counted as dropped. Sets *sp NULL.
 */
void mp_store_free_timeout(struct mp_store **sp, unsigned timeout_ms);
void mp_store_free(struct mp_store **sp);

/*
 * Queues one verdict. Never blocks on the network and never waits for
 * the writer (only for a mutex held for a few instructions). Returns
 * false when the queue is full: the record is dropped and counted.
 */
bool mp_store_submit(struct mp_store *s, const struct mp_store_record *r);

/* Queues a posture score alone (domain and org normalised; org "" = domain). */
bool mp_store_submit_posture(struct mp_store *s, const char *domain, const char *org,
    int score, const char *grade, time_t now);

/* Waits up to timeout_ms until every queued record has been written or
 * given up. True when the queue drained. For tests, tools and shutdown. */
bool mp_store_flush(struct mp_store *s, unsigned timeout_ms);

struct mp_store_stats {
	uint64_t submitted;         /* accepted into the queue */
	uint64_t dropped_full;      /* refused by mp_store_submit: queue full */
	uint64_t dropped_shutdown;  /* still queued when the store was freed */
	uint64_t written;           /* script ran and counted the message */
	uint64_t duplicates;        /* script ran, message key existed: counted before */
	uint64_t failed;            /* script error (not a connection error): given up */
	uint64_t commands;          /* EVALSHA replies read (redisGetReply calls for them) */
	uint64_t round_trips;       /* pipelined batches sent and answered */
	uint64_t retries;           /* messages resent after a connection error or NOSCRIPT */
	uint64_t connects;          /* connections set up (AUTH, SELECT, SCRIPT LOAD done) */
	uint64_t connect_failures;
	uint64_t redirects;         /* Cluster MOVED and ASK replies followed */
	uint64_t replayed;          /* resent after a failover: no replica had confirmed them */
	uint64_t unconfirmed;       /* written, but no replica confirmed within replica_wait */
	size_t queued;              /* waiting now */
	bool connected;
	char last_error[256];       /* printable, "" when none yet */
};

void mp_store_get_stats(struct mp_store *s, struct mp_store_stats *st);

/*
 * The posture cache shared between MX hosts: the posture score a host
 * stored for domain (org "" = domain), if it was computed at most
 * max_age seconds ago. Uses the store's reader connection (not the
 * writer's) with o->read_timeout_ms. Safe from any thread; while Redis
 * is failing it answers false at once for a backoff interval instead of
 * waiting on a timeout for every message. True + fields when found.
 */
struct mp_store_posture {
	int score;
	char grade[3];
	time_t computed_at;
};
bool mp_store_get_posture(struct mp_store *s, const char *domain, const char *org,
    long max_age, struct mp_store_posture *out);

/*
 * Posture sharing between MX hosts (README "Redis key schema", P
 * postures). mp_store_share_posture() queues a score computed here for
 * publication (host: ours, for the others' logs). Once a sink is set,
 * the writer thread reads what the other processes published, at most
 * once a second and never on a message's path, and calls sink(arg, p)
 * on the writer thread for each score younger than max_age seconds.
 * mp_store_share_sink(s, NULL, NULL, 0) stops it: the sink is not
 * called once that has returned.
 */
struct mp_store_shared {
	const char *domain;
	int score;
	const char *grade;
	time_t computed_at;
	const char *host;           /* who computed it */
};
typedef void (*mp_store_sink_fn)(void *arg, const struct mp_store_shared *p);
void mp_store_share_sink(struct mp_store *s, mp_store_sink_fn sink, void *arg, long max_age);
bool mp_store_share_posture(struct mp_store *s, const char *domain, int score, const char *grade,
    const char *host, time_t now);

/*
 * A connection set up like the writer's (AUTH, SELECT), for readers
 * such as mailposture-report: to the address, or to the master Sentinel
 * names (a Cluster has no single connection: see mp_store_locate). NULL
 * + a one-line reason on failure. Free it with redisFree().
 */
struct redisContext;
struct redisContext *mp_store_connect(const struct mp_store_options *o, unsigned timeout_ms,
    char *err, size_t errlen);

/*
 * The servers of o's deployment as redis_cluster nodes, for readers and
 * writers that route by key: mp_store_locate points n at the address,
 * at the master Sentinel names (with for_read and read_from = replica,
 * a replica that is up, else the master), or at the Cluster's slot map.
 * The dial functions (arg: the options, which must outlive n) set a
 * connection up with o->timeout_ms; mp_store_dial insists on a master
 * with Sentinel, mp_store_dial_reader takes a replica too.
 */
struct mp_redis_nodes;
bool mp_store_locate(const struct mp_store_options *o, struct mp_redis_nodes *n, bool for_read,
    char *err, size_t errlen);
struct redisContext *mp_store_dial(void *o, const char *addr, char *err, size_t errlen);
struct redisContext *mp_store_dial_reader(void *o, const char *addr, char *err, size_t errlen);

/* The script (Lua source), for tests and tools (SCRIPT LOAD gives its SHA1). */
const char *mp_store_script(void);

/*
 * Key names of the schema, written into buf (size at least 1024).
 * org "" = domain; day is "yyyymmdd" (UTC). Components are made safe
 * for key names (bytes outside [A-Za-z0-9._-] and ':' in host or id
 * become '_'; IP addresses keep ':').
 */
#define MP_STORE_KEY_MAX 1024
void mp_store_key_message(const struct mp_store_options *o, char *buf, const char *org,
    const char *host, const char *queue_id);
void mp_store_key_domain(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain);
void mp_store_key_domain_day(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain, const char *day);
void mp_store_key_domain_ips(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain, const char *day);
void mp_store_key_recent(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain);
void mp_store_key_worst(const struct mp_store_options *o, char *buf);
void mp_store_key_day(const struct mp_store_options *o, char *buf, const char *day);
void mp_store_key_volume(const struct mp_store_options *o, char *buf, const char *day);
void mp_store_key_dmarc_fail(const struct mp_store_options *o, char *buf, const char *day);
void mp_store_key_ip(const struct mp_store_options *o, char *buf, const char *ip,
    const char *day);
/*
 * On a Cluster no script may span slots, so each key of the whole
 * installation (worst, day, vol, fail, ip) is split into one key per
 * hash slot, tagged to live with the {org} keys it counts:
 * "P KIND:{TAG}:REST", TAG the slot's tag (redis_slot.h); readers merge
 * the groups. mp_store_groups() is how many groups o has: 1 (the plain
 * names above) or 16384. mp_store_key_in_group() writes the name of
 * group's share of key into out (MP_STORE_KEY_MAX); false when key is
 * not one of those.
 */
unsigned mp_store_groups(const struct mp_store_options *o);
bool mp_store_key_in_group(const struct mp_store_options *o, const char *key, unsigned group,
    char *out);
/* The aggregate report's rows and meta of a policy domain (store_report.h). */
void mp_store_key_report_rows(const struct mp_store_options *o, char *buf, const char *org,
    const char *policy_domain, const char *day);
void mp_store_key_report_meta(const struct mp_store_options *o, char *buf, const char *org,
    const char *policy_domain, const char *day);
/*
 * Daily hashes (and the installation's daily hash) count one "outcome"
 * field per message: "spf/dmarc/SD/disposition", for example
 * "pass/pass/10/-" (S, D: SPF and DKIM alignment 0/1; disposition
 * none, quarantine, reject or "-"). Readers sum them into counters.
 * D counts the messages whose DKIM pass aligned for DMARC (with [dkim]
 * verify, our own verification), not signatures that merely align.
 */
struct mp_store_counts {
	long long total, spf_pass, spf_fail, dmarc_pass, dmarc_fail, dmarc_none, dmarc_error,
	    spf_aligned, dkim_aligned, aligned, dis_quarantine, dis_reject;
};
/* The outcome field of a record (buf of 64 bytes is enough). */
void mp_store_outcome(const struct mp_store_record *r, char *buf, size_t len);
/* Adds n messages of outcome field to c; false (c untouched) when the
 * field is not a valid outcome. */
bool mp_store_outcome_add(const char *field, long long n, struct mp_store_counts *c);

/* "yyyymmdd" (UTC) of t into day[9]. */
void mp_store_day(time_t t, char day[9]);

/*
 * Audit history (mailposture-audit writes it, mailposture-report reads
 * it). target is the "host:port" that was audited ("[v6]:port" for an
 * IPv6 host); in key names it is made safe like a host name, ':' kept.
 */
#define MP_STORE_AUDITS 100         /* audits kept per target, newest first */
#define MP_STORE_AUDIT_MAX 1048576  /* bytes: a larger audit JSON is refused */
void mp_store_key_audit(const struct mp_store_options *o, char *buf, const char *target);
void mp_store_key_audits(const struct mp_store_options *o, char *buf);

/*
 * Stores one audit, synchronously (the audit is a one-shot command, so
 * there is no queue): connects with mp_store_connect() (AUTH, SELECT),
 * then one pipelined MULTI/EXEC pushes an entry onto P audit:TARGET
 * (capped at MP_STORE_AUDITS, TTL ttl_domain) and sets target -> when in
 * P audits. The entry is a JSON object {"t", "target", "domain",
 * "score" (null when < 0), "grade", "audit"}, "audit" being json, which
 * must be one JSON object (checked). False + a one-line reason when
 * Redis is not configured, unreachable or says no; nothing is retried.
 */
bool mp_store_put_audit(const struct mp_store_options *o, const char *target, const char *domain,
    int score, const char *grade, const char *json, time_t when, char *err, size_t errlen);

#endif
