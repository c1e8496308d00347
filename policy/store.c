/*
 * store: the Redis verdict and score cache. See store.h for the contract
 * and README ("Redis key schema") for the keys.
 *
 * Threads: mp_store_submit() runs on the milter's threads and only
 * touches the queue under s->mu. The writer thread alone owns s->wc
 * (hiredis contexts are not thread-safe). mp_store_get_posture() owns
 * s->rc under s->rmu.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "log.h"
#include "store.h"
#include "util.h"

/*
 * The script: one call per message, every key in KEYS (so that on a
 * Cluster the per-domain keys, which share the {org} hash tag, are
 * declared; see README for the keys without a tag).
 *
 * Mode "m" (a message):
 *  KEYS  1 message  2 domain  3 domain-day  4 domain-day-ips  5 recent
 *        6 worst    7 day     8 volume-day  9 dmarc-fail-day  10 ip-day
 *  ARGV  1 "m" 2 now 3 domain 4 org 5 ip 6 spf 7 dmarc 8 spf_aligned
 *        9 dkim_aligned 10 disposition 11 published ("" unknown)
 *        12 score ("" unknown) 13 grade 14 the message as JSON
 *        15 ttl_message 16 ttl_domain 17 ttl_day 18 halflife
 *        19 recent cap 20 the outcome field (see below)
 *  Returns 1 when counted, 0 when the message key existed (a replay).
 *
 * Mode "p" (a posture score alone):
 *  KEYS 1 domain 2 worst; ARGV 1 "p" 2 now 3 domain 4 org 5 score
 *  6 grade 7 ttl_domain. Returns 1, or 0 when a newer score is there.
 *
 * Cost: Redis spends most of a script's time crossing from Lua into
 * commands, so the common path makes nine calls: SET NX EX is at once
 * the replay guard, the message and its TTL; the daily hashes count one
 * "outcome" field per message (spf/dmarc/alignment/disposition, summed
 * by the reader) instead of one field per counter; TTLs of daily keys
 * are set when a key gets a new field rather than on every message.
 *
 * Observed auth score: every message gives a sample x (100 DMARC pass,
 * 50 no DMARC policy but SPF pass, 0 otherwise; a temperror gives no
 * sample). The domain keeps S and W, both decayed with a half-life h:
 * on a sample at time t after the last one at t0, f = 2^-((t-t0)/h),
 * S = S*f + x, W = W*f + 1. The score is S/W: a mean where every
 * message counts (a burst of 1000 weighs 1000 times one message) and a
 * message h seconds older weighs half. A sample older than t0 (clock
 * skew between MX hosts) is itself decayed instead.
 */
static const char script[] =
"local mode, now = ARGV[1], tonumber(ARGV[2])\n"
"local domain, org = ARGV[3], ARGV[4]\n"
"if mode == 'p' then\n"
"  local at = tonumber(redis.call('HGET', KEYS[1], 'posture_at'))\n"
"  if at and at > now then return 0 end\n"
"  local ttl = tonumber(ARGV[7])\n"
"  redis.call('HSET', KEYS[1], 'domain', domain, 'org', org, 'posture_score', ARGV[5],\n"
"    'posture_grade', ARGV[6], 'posture_at', now)\n"
"  redis.call('EXPIRE', KEYS[1], ttl)\n"
"  redis.call('ZADD', KEYS[2], 100 - tonumber(ARGV[5]), domain)\n"
"  redis.call('EXPIRE', KEYS[2], ttl)\n"
"  return 1\n"
"end\n"
"if mode ~= 'm' then return redis.error_reply('bad mode') end\n"
"local ttl_msg, ttl_dom, ttl_day = tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17])\n"
"if not redis.call('SET', KEYS[1], ARGV[14], 'NX', 'EX', ttl_msg) then return 0 end\n"
"local ip, spf, dmarc, dispo = ARGV[5], ARGV[6], ARGV[7], ARGV[10]\n"
"local spf_al, dkim_al = ARGV[8] == '1', ARGV[9] == '1'\n"
"local score, grade, outcome = ARGV[12], ARGV[13], ARGV[20]\n"
"local hl, cap = tonumber(ARGV[18]), tonumber(ARGV[19])\n"
/* The all-time counters this message increments. */
"local inc = {'total'}\n"
"if spf == 'pass' then inc[#inc + 1] = 'spf_pass'\n"
"elseif spf == 'fail' or spf == 'softfail' then inc[#inc + 1] = 'spf_fail' end\n"
"if dmarc == 'pass' then inc[#inc + 1] = 'dmarc_pass'\n"
"elseif dmarc == 'fail' then inc[#inc + 1] = 'dmarc_fail'\n"
"elseif dmarc == 'none' then inc[#inc + 1] = 'dmarc_none'\n"
"else inc[#inc + 1] = 'dmarc_error' end\n"
"if spf_al then inc[#inc + 1] = 'spf_aligned' end\n"
"if dkim_al then inc[#inc + 1] = 'dkim_aligned' end\n"
"if spf_al or dkim_al then inc[#inc + 1] = 'aligned' end\n"
"if dispo == 'quarantine' then inc[#inc + 1] = 'dis_quarantine'\n"
"elseif dispo == 'reject' then inc[#inc + 1] = 'dis_reject' end\n"
/* The domain hash: read once, written once. */
"local d = redis.call('HMGET', KEYS[2], 'first_seen', 'last_seen', 'auth_s',\n"
"  'auth_w', 'auth_t', unpack(inc))\n"
"local first, last = tonumber(d[1]) or now, tonumber(d[2]) or now\n"
"if now < first then first = now end\n"
"if now > last then last = now end\n"
"local f = {'domain', domain, 'org', org, 'first_seen', first, 'last_seen', last}\n"
"for i, name in ipairs(inc) do\n"
"  f[#f + 1] = name; f[#f + 1] = (tonumber(d[5 + i]) or 0) + 1\n"
"end\n"
"if ARGV[11] ~= '' then f[#f + 1] = 'published'; f[#f + 1] = ARGV[11] end\n"
"local x\n"
"if dmarc == 'pass' then x = 100\n"
"elseif dmarc == 'temperror' or (dmarc == 'none' and spf == 'temperror') then x = nil\n"
"elseif dmarc == 'none' and spf == 'pass' then x = 50\n"
"else x = 0 end\n"
"if x then\n"
"  local s, w, t0 = tonumber(d[3]) or 0, tonumber(d[4]) or 0, tonumber(d[5]) or now\n"
"  if now >= t0 then\n"
"    local k = 2 ^ ((t0 - now) / hl)\n"
"    s = s * k + x; w = w * k + 1; t0 = now\n"
"  else\n"
"    local k = 2 ^ ((now - t0) / hl)\n"
"    s = s + x * k; w = w + k\n"
"  end\n"
"  f[#f + 1] = 'auth_s'; f[#f + 1] = string.format('%.17g', s)\n"
"  f[#f + 1] = 'auth_w'; f[#f + 1] = string.format('%.17g', w)\n"
"  f[#f + 1] = 'auth_t'; f[#f + 1] = t0\n"
"  f[#f + 1] = 'auth_score'; f[#f + 1] = string.format('%.1f', s / w)\n"
"end\n"
"if score ~= '' then\n"
"  f[#f + 1] = 'posture_score'; f[#f + 1] = score\n"
"  f[#f + 1] = 'posture_grade'; f[#f + 1] = grade\n"
"  f[#f + 1] = 'posture_at'; f[#f + 1] = now\n"
"  redis.call('ZADD', KEYS[6], 100 - tonumber(score), domain)\n"
"  redis.call('EXPIRE', KEYS[6], ttl_dom)\n"
"end\n"
"redis.call('HSET', KEYS[2], unpack(f))\n"
/* A new outcome field in the domain's day hash happens at least on the
 * day's first message: the moment to (re)set the per-domain TTLs. */
"local fresh = redis.call('HINCRBY', KEYS[3], outcome, 1) == 1\n"
"redis.call('ZINCRBY', KEYS[4], 1, ip)\n"
"local n = redis.call('LPUSH', KEYS[5], KEYS[1])\n"
"if n > cap then redis.call('LTRIM', KEYS[5], 0, cap - 1) end\n"
"if fresh or not d[2] or n == 1 then\n"
"  redis.call('EXPIRE', KEYS[2], ttl_dom)\n"
"  redis.call('EXPIRE', KEYS[3], ttl_day)\n"
"  redis.call('EXPIRE', KEYS[4], ttl_day)\n"
"  redis.call('EXPIRE', KEYS[5], ttl_msg)\n"
"end\n"
/* The keys of the whole installation (no hash tag). */
"redis.call('HINCRBY', KEYS[7], outcome, 1)\n"
"if redis.call('ZINCRBY', KEYS[8], 1, domain) == '1' then\n"
"  redis.call('EXPIRE', KEYS[7], ttl_day)\n"
"  redis.call('EXPIRE', KEYS[8], ttl_day)\n"
"end\n"
"if dmarc == 'fail' and redis.call('ZINCRBY', KEYS[9], 1, domain) == '1' then\n"
"  redis.call('EXPIRE', KEYS[9], ttl_day)\n"
"end\n"
"if redis.call('HINCRBY', KEYS[10], domain .. '|' .. spf .. '|' .. dmarc, 1) == 1 then\n"
"  redis.call('EXPIRE', KEYS[10], ttl_day)\n"
"end\n"
"return 1\n";

const char *
mp_store_script(void)
{
	return script;
}

/* ---- options ----------------------------------------------------------- */

void
mp_store_options_defaults(struct mp_store_options *o)
{
	memset(o, 0, sizeof(*o));
	mp_strlcpy(o->key_prefix, "mp:", sizeof(o->key_prefix));
	o->timeout_ms = 500;
	o->ttl_message = 604800;
	o->ttl_domain = 7776000;
	o->ttl_day = 3024000;
	o->queue_size = 10000;
	o->drop_log_interval_s = 60;
	o->backoff_min_ms = 100;
	o->backoff_max_ms = 10000;
	o->read_timeout_ms = 100;
	o->halflife = MP_STORE_HALFLIFE;
}

void
mp_store_options_from_conf(const struct mp_conf *c, struct mp_store_options *o)
{
	mp_store_options_defaults(o);
	mp_strlcpy(o->address, mp_conf_str(c, "redis", "address"), sizeof(o->address));
	mp_strlcpy(o->password_file, mp_conf_str(c, "redis", "password_file"),
	    sizeof(o->password_file));
	o->db = (int)mp_conf_int(c, "redis", "db");
	mp_strlcpy(o->key_prefix, mp_conf_str(c, "redis", "key_prefix"), sizeof(o->key_prefix));
	o->timeout_ms = (unsigned)mp_conf_int(c, "redis", "timeout");
	o->ttl_message = mp_conf_int(c, "redis", "ttl_message");
	o->ttl_domain = mp_conf_int(c, "redis", "ttl_domain");
	o->ttl_day = mp_conf_int(c, "redis", "ttl_day");
	o->queue_size = (size_t)mp_conf_int(c, "redis", "queue_size");
	/* The posture read runs on the SMTP path: a fifth of the command
	 * timeout, and never more than 200 ms. */
	o->read_timeout_ms = o->timeout_ms / 5;
	if (o->read_timeout_ms < 10)
		o->read_timeout_ms = 10;
	if (o->read_timeout_ms > 200)
		o->read_timeout_ms = 200;
}

/*
 * Splits an address into host and port, or recognises a unix socket
 * path. host gets the address without brackets.
 */
static bool
parse_address(const char *addr, char *host, size_t hostlen, int *port_r, bool *unix_r,
    char *err, size_t errlen)
{
	const char *colon, *h = addr;
	size_t hl;
	char *end;
	long port;

	*unix_r = false;
	*port_r = 0;
	if (addr[0] == '/') {
		if (strlen(addr) >= hostlen) {
			snprintf(err, errlen, "redis address: socket path too long");
			return false;
		}
		mp_strlcpy(host, addr, hostlen);
		*unix_r = true;
		return true;
	}
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (rb == NULL || rb[1] != ':') {
			snprintf(err, errlen, "redis address: expected [IPV6]:PORT");
			return false;
		}
		h = addr + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL) {
			snprintf(err, errlen, "redis address: expected HOST:PORT, [IPV6]:PORT or /PATH");
			return false;
		}
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= hostlen) {
		snprintf(err, errlen, "redis address: bad host");
		return false;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535) {
		snprintf(err, errlen, "redis address: bad port");
		return false;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port_r = (int)port;
	return true;
}

bool
mp_store_options_check(const struct mp_store_options *o, char *err, size_t errlen)
{
	char host[512];
	int port;
	bool is_unix;

	if (o->address[0] != '\0' &&
	    !parse_address(o->address, host, sizeof(host), &port, &is_unix, err, errlen))
		return false;
	for (const char *p = o->key_prefix; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= ' ' || ch >= 0x7f || ch == '{' || ch == '}') {
			snprintf(err, errlen, "redis key_prefix: no spaces, braces or control characters");
			return false;
		}
	}
	if (o->db < 0 || o->db > 15) {
		snprintf(err, errlen, "redis db: 0..15");
		return false;
	}
	if (o->queue_size < 1 || o->queue_size > 10000000) {
		snprintf(err, errlen, "redis queue_size: 1..10000000");
		return false;
	}
	if (o->timeout_ms < 1 || o->ttl_message < 1 || o->ttl_domain < 1 || o->ttl_day < 1 ||
	    o->halflife < 1) {
		snprintf(err, errlen, "redis: timeouts and TTLs must be positive");
		return false;
	}
	return true;
}

/* ---- key names --------------------------------------------------------- */

/*
 * Appends s to the key in buf, bytes outside the safe set replaced by
 * '_', at most max bytes. Domain names are already normalised; this
 * keeps a hostile host name or queue id from forging a hash tag or a
 * key separator.
 */
static size_t
put_comp(char *buf, size_t at, const char *s, size_t max, bool colon_ok)
{
	size_t n = 0;

	for (; *s && n < max && at < MP_STORE_KEY_MAX - 1; s++, n++) {
		unsigned char ch = (unsigned char)*s;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' ||
		    (colon_ok && ch == ':');

		buf[at++] = ok ? (char)ch : '_';
	}
	buf[at] = '\0';
	return at;
}

static size_t
put_lit(char *buf, size_t at, const char *s)
{
	while (*s && at < MP_STORE_KEY_MAX - 1)
		buf[at++] = *s++;
	buf[at] = '\0';
	return at;
}

/* prefix KIND "{" org "}" */
static size_t
key_start(const struct mp_store_options *o, char *buf, const char *kind, const char *org,
    const char *domain)
{
	size_t at = 0;

	buf[0] = '\0';
	at = put_lit(buf, at, o->key_prefix);
	at = put_lit(buf, at, kind);
	if (org != NULL) {
		at = put_lit(buf, at, ":{");
		at = put_comp(buf, at, org[0] ? org : domain, MP_DOMAIN_MAX, false);
		at = put_lit(buf, at, "}");
	}
	return at;
}

void
mp_store_key_message(const struct mp_store_options *o, char *buf, const char *org,
    const char *host, const char *queue_id)
{
	size_t at = key_start(o, buf, "m", org, "");

	at = put_lit(buf, at, ":");
	at = put_comp(buf, at, host, 255, false);
	at = put_lit(buf, at, ":");
	put_comp(buf, at, queue_id, 63, false);
}

void
mp_store_key_domain(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain)
{
	size_t at = key_start(o, buf, "d", org, domain);

	at = put_lit(buf, at, ":");
	put_comp(buf, at, domain, MP_DOMAIN_MAX, false);
}

static void
key_domain_day(const struct mp_store_options *o, char *buf, const char *kind, const char *org,
    const char *domain, const char *day)
{
	size_t at = key_start(o, buf, kind, org, domain);

	at = put_lit(buf, at, ":");
	at = put_comp(buf, at, domain, MP_DOMAIN_MAX, false);
	at = put_lit(buf, at, ":");
	put_comp(buf, at, day, 8, false);
}

void
mp_store_key_domain_day(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain, const char *day)
{
	key_domain_day(o, buf, "dd", org, domain, day);
}

void
mp_store_key_domain_ips(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain, const char *day)
{
	key_domain_day(o, buf, "di", org, domain, day);
}

void
mp_store_key_recent(const struct mp_store_options *o, char *buf, const char *org,
    const char *domain)
{
	size_t at = key_start(o, buf, "r", org, domain);

	at = put_lit(buf, at, ":");
	put_comp(buf, at, domain, MP_DOMAIN_MAX, false);
}

void
mp_store_key_worst(const struct mp_store_options *o, char *buf)
{
	key_start(o, buf, "worst", NULL, NULL);
}

static void
key_global_day(const struct mp_store_options *o, char *buf, const char *kind, const char *day)
{
	size_t at = key_start(o, buf, kind, NULL, NULL);

	at = put_lit(buf, at, ":");
	put_comp(buf, at, day, 8, false);
}

void
mp_store_key_day(const struct mp_store_options *o, char *buf, const char *day)
{
	key_global_day(o, buf, "day", day);
}

void
mp_store_key_volume(const struct mp_store_options *o, char *buf, const char *day)
{
	key_global_day(o, buf, "vol", day);
}

void
mp_store_key_dmarc_fail(const struct mp_store_options *o, char *buf, const char *day)
{
	key_global_day(o, buf, "fail", day);
}

void
mp_store_key_ip(const struct mp_store_options *o, char *buf, const char *ip, const char *day)
{
	size_t at = key_start(o, buf, "ip", NULL, NULL);

	at = put_lit(buf, at, ":");
	at = put_comp(buf, at, ip, 63, true);
	at = put_lit(buf, at, ":");
	put_comp(buf, at, day, 8, false);
}

/* prefix "audit:" target; ':' kept (host:port, IPv6), '[' ']' become '_'. */
void
mp_store_key_audit(const struct mp_store_options *o, char *buf, const char *target)
{
	size_t at = key_start(o, buf, "audit", NULL, NULL);

	at = put_lit(buf, at, ":");
	put_comp(buf, at, target, 300, true);
}

void
mp_store_key_audits(const struct mp_store_options *o, char *buf)
{
	key_start(o, buf, "audits", NULL, NULL);
}

void
mp_store_day(time_t t, char day[9])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 || tm.tm_year > 8099) {
		mp_strlcpy(day, "19700101", 9);
		return;
	}
	snprintf(day, 9, "%04u%02u%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
	    (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

/* ---- records ----------------------------------------------------------- */

void
mp_store_record_init(struct mp_store_record *r)
{
	memset(r, 0, sizeof(*r));
	r->posture_score = -1;
	r->spf = MP_SPF_NONE;
	r->dmarc = MP_DMARC_NONE;
	r->policy = r->published = r->disposition = MP_DMARC_P_UNSET;
	r->action = MP_ACTION_ACCEPT;
}

/* ---- connections ------------------------------------------------------- */

static struct timeval
ms_tv(unsigned ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/*
 * Reads the password: the first line of a private regular file, at most
 * 512 bytes. The file is read on every connect so that a rotated
 * password is picked up without a restart.
 */
static bool
read_password(const char *path, char *pw, size_t pwlen, size_t *len_r, char *err, size_t errlen)
{
	struct stat sb;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "cannot open password_file %s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "password_file %s is not a regular file", path);
		close(fd);
		return false;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "password_file %s is readable by group or others (chmod 600)", path);
		close(fd);
		return false;
	}
	n = read(fd, pw, pwlen - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read password_file %s: %s", path, strerror(errno));
		return false;
	}
	pw[n] = '\0';
	*len_r = strcspn(pw, "\r\n");
	pw[*len_r] = '\0';
	if (*len_r == 0) {
		snprintf(err, errlen, "password_file %s is empty", path);
		return false;
	}
	return true;
}

/* A printable copy of a server reply for a log line. */
static void
reply_text(const redisReply *r, char *out, size_t outlen)
{
	struct mp_buf b = MP_BUF_INIT;

	if (r->str != NULL)
		mp_printable(&b, r->str, r->len, 160);
	mp_strlcpy(out, mp_buf_str(&b), outlen);
	mp_buf_free(&b);
}

/*
 * Runs one setup command; false + err when the connection failed or the
 * server said no (what names the step, for the log line).
 */
static bool
setup_cmd(redisContext *c, const char *addr, const char *what, int argc, const char **argv,
    const size_t *argvlen, redisReply **reply_r, char *err, size_t errlen)
{
	redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
	char txt[200];

	if (reply_r)
		*reply_r = NULL;
	if (r == NULL) {
		snprintf(err, errlen, "redis %s at %s: %s", what, addr,
		    c->errstr[0] ? c->errstr : "connection lost");
		return false;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		reply_text(r, txt, sizeof(txt));
		if (strcmp(what, "AUTH") == 0)
			snprintf(err, errlen, "redis AUTH failed at %s: %s: check the password in "
			    "[redis] password_file", addr, txt);
		else if (strncmp(txt, "NOAUTH", 6) == 0)
			snprintf(err, errlen, "redis at %s requires a password (%s): set [redis] "
			    "password_file", addr, txt);
		else
			snprintf(err, errlen, "redis %s at %s: %s", what, addr, txt);
		freeReplyObject(r);
		return false;
	}
	if (reply_r)
		*reply_r = r;
	else
		freeReplyObject(r);
	return true;
}

struct redisContext *
mp_store_connect(const struct mp_store_options *o, unsigned timeout_ms, char *err, size_t errlen)
{
	char host[512], pw[513], dbs[16];
	const char *argv[3];
	size_t argvlen[3], pwlen;
	redisContext *c;
	int port;
	bool is_unix;

	if (o->address[0] == '\0') {
		snprintf(err, errlen, "no Redis address configured");
		return NULL;
	}
	if (!parse_address(o->address, host, sizeof(host), &port, &is_unix, err, errlen))
		return NULL;
	if (timeout_ms == 0)
		timeout_ms = o->timeout_ms;
	if (is_unix)
		c = redisConnectUnixWithTimeout(host, ms_tv(timeout_ms));
	else
		c = redisConnectWithTimeout(host, port, ms_tv(timeout_ms));
	if (c == NULL || c->err) {
		snprintf(err, errlen, "cannot connect to redis at %s: %s", o->address,
		    c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	/* The connect timeout does not cover commands; a reconnect would
	 * lose it too, which is why we never use redisReconnect. */
	redisSetTimeout(c, ms_tv(timeout_ms));
	if (o->password_file[0] != '\0') {
		bool ok;

		if (!read_password(o->password_file, pw, sizeof(pw), &pwlen, err, errlen)) {
			redisFree(c);
			return NULL;
		}
		argv[0] = "AUTH";
		argvlen[0] = 4;
		argv[1] = pw;
		argvlen[1] = pwlen;
		ok = setup_cmd(c, o->address, "AUTH", 2, argv, argvlen, NULL, err, errlen);
		explicit_bzero(pw, sizeof(pw));
		if (!ok) {
			redisFree(c);
			return NULL;
		}
	}
	snprintf(dbs, sizeof(dbs), "%d", o->db);
	argv[0] = "SELECT";
	argvlen[0] = 6;
	argv[1] = dbs;
	argvlen[1] = strlen(dbs);
	if (!setup_cmd(c, o->address, "SELECT", 2, argv, argvlen, NULL, err, errlen)) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* ---- the store --------------------------------------------------------- */

enum item_kind { ITEM_MESSAGE, ITEM_POSTURE };

struct item {
	enum item_kind kind;
	int noscript_retries;
	struct mp_store_record r;
};

struct mp_store {
	struct mp_store_options o;
	pthread_t writer;
	bool writer_started;

	pthread_mutex_t mu;
	pthread_cond_t work;        /* the writer waits for items or stop */
	pthread_cond_t idle;        /* flush waits for an empty queue */
	pthread_cond_t wake;        /* the writer's backoff sleep, cut short by stop */
	struct item **ring;
	size_t cap, head, count;
	size_t inflight;            /* taken by the writer, not finished */
	bool stop;
	struct mp_store_stats st;
	time_t drop_logged_at;      /* last drop log line */
	uint64_t drops_unlogged;

	/* writer thread only */
	redisContext *wc;
	char sha[41];
	unsigned backoff_ms;
	char err_logged[256];       /* the last error logged, to log a repeat once per interval */
	time_t err_logged_at;

	/* mp_store_get_posture */
	pthread_mutex_t rmu;
	redisContext *rc;
	unsigned long long r_retry_at;
	unsigned r_backoff_ms;
};

static const char *
policy_word(enum mp_dmarc_policy p)
{
	return p == MP_DMARC_P_UNSET ? "" : mp_dmarc_policy_str(p);
}

/* Under s->mu: logs the drops counted since the last line, at most
 * once per interval (force: whenever there are some). */
static void
drops_log_locked(struct mp_store *s, bool force)
{
	time_t now = time(NULL);

	if (s->drops_unlogged == 0)
		return;
	if (!force && now - s->drop_logged_at < (time_t)s->o.drop_log_interval_s)
		return;
	mp_log(LOG_WARNING, "redis: %llu verdicts not stored (queue of %zu full or redis "
	    "unavailable); %llu dropped since start",
	    (unsigned long long)s->drops_unlogged, s->cap,
	    (unsigned long long)(s->st.dropped_full + s->st.dropped_shutdown));
	s->drops_unlogged = 0;
	s->drop_logged_at = now;
}

/* Writer: logs an error unless the same one was logged within the interval. */
static void
writer_error(struct mp_store *s, const char *msg)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&s->mu);
	mp_strlcpy(s->st.last_error, msg, sizeof(s->st.last_error));
	pthread_mutex_unlock(&s->mu);
	if (strcmp(msg, s->err_logged) == 0 &&
	    now - s->err_logged_at < (time_t)s->o.drop_log_interval_s)
		return;
	mp_log(LOG_ERR, "%s", msg);
	mp_strlcpy(s->err_logged, msg, sizeof(s->err_logged));
	s->err_logged_at = now;
}

static void
writer_disconnect(struct mp_store *s)
{
	if (s->wc != NULL) {
		redisFree(s->wc);
		s->wc = NULL;
	}
	pthread_mutex_lock(&s->mu);
	s->st.connected = false;
	pthread_mutex_unlock(&s->mu);
}

/* SCRIPT LOAD on the writer's connection; false (connection freed) on error. */
static bool
writer_load_script(struct mp_store *s)
{
	const char *argv[3] = { "SCRIPT", "LOAD", script };
	size_t argvlen[3] = { 6, 4, sizeof(script) - 1 };
	redisReply *r;
	char err[512];

	if (!setup_cmd(s->wc, s->o.address, "SCRIPT LOAD", 3, argv, argvlen, &r, err, sizeof(err))) {
		writer_error(s, err);
		writer_disconnect(s);
		return false;
	}
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		freeReplyObject(r);
		writer_error(s, "redis SCRIPT LOAD: unexpected reply");
		writer_disconnect(s);
		return false;
	}
	memcpy(s->sha, r->str, 40);
	s->sha[40] = '\0';
	freeReplyObject(r);
	return true;
}

static bool
writer_connect(struct mp_store *s)
{
	char err[512];

	if ((s->wc = mp_store_connect(&s->o, 0, err, sizeof(err))) == NULL) {
		writer_error(s, err);
		pthread_mutex_lock(&s->mu);
		s->st.connect_failures++;
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	if (!writer_load_script(s)) {
		pthread_mutex_lock(&s->mu);
		s->st.connect_failures++;
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	pthread_mutex_lock(&s->mu);
	s->st.connects++;
	s->st.connected = true;
	s->st.last_error[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	if (s->err_logged[0] != '\0' || s->st.connects == 1)
		mp_log(LOG_INFO, "redis: connected to %s (db %d)", s->o.address, s->o.db);
	s->err_logged[0] = '\0';
	s->backoff_ms = 0;
	return true;
}

/* Sleeps for the next backoff step; returns early (true) when stopping. */
static bool
writer_backoff(struct mp_store *s)
{
	struct timespec ts;
	bool stop;

	s->backoff_ms = s->backoff_ms == 0 ? s->o.backoff_min_ms : s->backoff_ms * 2;
	if (s->backoff_ms > s->o.backoff_max_ms)
		s->backoff_ms = s->o.backoff_max_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s->backoff_ms / 1000;
	ts.tv_nsec += (long)(s->backoff_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &ts) == 0)
		;
	drops_log_locked(s, false);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* Scratch space for one EVALSHA's arguments; hiredis copies them into
 * its output buffer at append time, so one set serves the whole batch. */
struct evalargs {
	char keys[10][MP_STORE_KEY_MAX];
	char now[24], score[8], ttl_msg[24], ttl_dom[24], ttl_day[24], hl[24], cap[16];
	char outcome[64];
	struct mp_buf json;
	const char *argv[40];
	size_t argvlen[40];
	int argc;
};

static void
arg(struct evalargs *a, const char *s)
{
	a->argv[a->argc] = s;
	a->argvlen[a->argc] = strlen(s);
	a->argc++;
}

/*
 * Appends s as a JSON string. Built by hand rather than with jansson:
 * it runs once per message on the writer thread, whose time bounds the
 * throughput. Bytes outside printable ASCII become \u00XX (the peer's
 * text is printable already; this keeps the JSON valid whatever comes).
 */
static void
json_puts(struct mp_buf *b, const char *key, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	mp_buf_printf(b, "%s\"%s\":\"", b->len > 1 ? "," : "", key);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			mp_buf_putc(b, '\\');
			mp_buf_putc(b, (char)ch);
		} else if (ch < 0x20 || ch >= 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

			mp_buf_append(b, e, sizeof(e));
		} else {
			mp_buf_putc(b, (char)ch);
		}
	}
	mp_buf_putc(b, '"');
}

/* The stored form of a message (README "Redis key schema"). */
static void
message_json(const struct mp_store_record *r, const char *domain, const char *org,
    struct mp_buf *out)
{
	mp_buf_reset(out);
	mp_buf_putc(out, '{');
	mp_buf_printf(out, "\"t\":%lld", (long long)r->time);
	json_puts(out, "host", r->host);
	json_puts(out, "qid", r->queue_id);
	json_puts(out, "ip", r->ip);
	json_puts(out, "helo", r->helo);
	json_puts(out, "mailfrom", r->mail_from);
	json_puts(out, "from", domain);
	json_puts(out, "org", org);
	json_puts(out, "spf", mp_spf_result_str(r->spf));
	json_puts(out, "dmarc", mp_dmarc_result_str(r->dmarc));
	mp_buf_printf(out, ",\"spf_aligned\":%s,\"dkim_aligned\":%s",
	    r->spf_aligned ? "true" : "false", r->dkim_aligned ? "true" : "false");
	json_puts(out, "policy", policy_word(r->policy));
	json_puts(out, "disposition", policy_word(r->disposition));
	json_puts(out, "action", mp_action_str(r->action));
	if (r->posture_score >= 0 && r->posture_score <= 100) {
		mp_buf_printf(out, ",\"score\":%d", r->posture_score);
		json_puts(out, "grade", r->posture_grade);
	}
	mp_buf_putc(out, '}');
}

void
mp_store_outcome(const struct mp_store_record *r, char *buf, size_t len)
{
	const char *dispo = policy_word(r->disposition);

	snprintf(buf, len, "%s/%s/%d%d/%s", mp_spf_result_str(r->spf),
	    mp_dmarc_result_str(r->dmarc), r->spf_aligned ? 1 : 0, r->dkim_aligned ? 1 : 0,
	    dispo[0] ? dispo : "-");
}

static void
build_eval(struct mp_store *s, const struct item *it, struct evalargs *a)
{
	const struct mp_store_record *r = &it->r;
	const char *domain = r->from_domain[0] ? r->from_domain : MP_STORE_NO_DOMAIN;
	const char *org = r->org_domain[0] ? r->org_domain : domain;
	const char *ip = r->ip[0] ? r->ip : "unknown";
	char day[9];

	a->argc = 0;
	snprintf(a->now, sizeof(a->now), "%lld", (long long)r->time);
	if (r->posture_score >= 0 && r->posture_score <= 100)
		snprintf(a->score, sizeof(a->score), "%d", r->posture_score);
	else
		a->score[0] = '\0';
	snprintf(a->ttl_dom, sizeof(a->ttl_dom), "%ld", s->o.ttl_domain);
	arg(a, "EVALSHA");
	arg(a, s->sha);
	if (it->kind == ITEM_POSTURE) {
		mp_store_key_domain(&s->o, a->keys[0], org, domain);
		mp_store_key_worst(&s->o, a->keys[1]);
		arg(a, "2");
		arg(a, a->keys[0]);
		arg(a, a->keys[1]);
		arg(a, "p");
		arg(a, a->now);
		arg(a, domain);
		arg(a, org);
		arg(a, a->score);
		arg(a, r->posture_grade);
		arg(a, a->ttl_dom);
		return;
	}
	mp_store_day(r->time, day);
	mp_store_key_message(&s->o, a->keys[0], org, r->host, r->queue_id);
	mp_store_key_domain(&s->o, a->keys[1], org, domain);
	mp_store_key_domain_day(&s->o, a->keys[2], org, domain, day);
	mp_store_key_domain_ips(&s->o, a->keys[3], org, domain, day);
	mp_store_key_recent(&s->o, a->keys[4], org, domain);
	mp_store_key_worst(&s->o, a->keys[5]);
	mp_store_key_day(&s->o, a->keys[6], day);
	mp_store_key_volume(&s->o, a->keys[7], day);
	mp_store_key_dmarc_fail(&s->o, a->keys[8], day);
	mp_store_key_ip(&s->o, a->keys[9], ip, day);
	snprintf(a->ttl_msg, sizeof(a->ttl_msg), "%ld", s->o.ttl_message);
	snprintf(a->ttl_day, sizeof(a->ttl_day), "%ld", s->o.ttl_day);
	snprintf(a->hl, sizeof(a->hl), "%ld", s->o.halflife);
	snprintf(a->cap, sizeof(a->cap), "%d", MP_STORE_RECENT);
	mp_store_outcome(r, a->outcome, sizeof(a->outcome));
	message_json(r, domain, org, &a->json);
	arg(a, "10");
	for (int i = 0; i < 10; i++)
		arg(a, a->keys[i]);
	arg(a, "m");
	arg(a, a->now);
	arg(a, domain);
	arg(a, org);
	arg(a, ip);
	arg(a, mp_spf_result_str(r->spf));
	arg(a, mp_dmarc_result_str(r->dmarc));
	arg(a, r->spf_aligned ? "1" : "0");
	arg(a, r->dkim_aligned ? "1" : "0");
	arg(a, policy_word(r->disposition));
	/* What the domain publishes is unknown after a temperror: leave
	 * the stored value alone then. */
	if (r->dmarc == MP_DMARC_TEMPERROR)
		arg(a, "");
	else
		arg(a, r->published == MP_DMARC_P_UNSET ? "absent" : mp_dmarc_policy_str(r->published));
	arg(a, a->score);
	arg(a, a->score[0] ? r->posture_grade : "");
	a->argv[a->argc] = a->json.data;
	a->argvlen[a->argc] = a->json.len;
	a->argc++;
	arg(a, a->ttl_msg);
	arg(a, a->ttl_dom);
	arg(a, a->ttl_day);
	arg(a, a->hl);
	arg(a, a->cap);
	arg(a, a->outcome);
}

/*
 * Outcome fields: "spf/dmarc/SD/disposition" with S and D the SPF and
 * DKIM alignment as 0 or 1 and disposition "-" when DMARC asked for
 * nothing. The reader's side: strict, every part must be a known word.
 */
static int
word_index(const char *s, size_t len, const char *(*str)(int), int n)
{
	for (int i = 0; i < n; i++) {
		const char *w = str(i);

		if (strlen(w) == len && memcmp(w, s, len) == 0)
			return i;
	}
	return -1;
}

static const char *spf_word(int i) { return mp_spf_result_str((enum mp_spf_result)i); }
static const char *dmarc_word(int i) { return mp_dmarc_result_str((enum mp_dmarc_result)i); }

bool
mp_store_outcome_add(const char *field, long long n, struct mp_store_counts *c)
{
	const char *p[4], *end;
	size_t len[4];
	int spf, dmarc;
	const char *q = field;

	if (field == NULL || n < 0 || strlen(field) > 64)
		return false;
	for (int i = 0; i < 4; i++) {
		end = i < 3 ? strchr(q, '/') : q + strlen(q);
		if (end == NULL)
			return false;
		p[i] = q;
		len[i] = (size_t)(end - q);
		q = end + 1;
	}
	if ((spf = word_index(p[0], len[0], spf_word, MP_SPF_PERMERROR + 1)) < 0 ||
	    (dmarc = word_index(p[1], len[1], dmarc_word, MP_DMARC_PERMERROR + 1)) < 0 ||
	    len[2] != 2 || (p[2][0] != '0' && p[2][0] != '1') || (p[2][1] != '0' && p[2][1] != '1'))
		return false;
	if (!(len[3] == 1 && p[3][0] == '-') &&
	    !(len[3] == 4 && memcmp(p[3], "none", 4) == 0) &&
	    !(len[3] == 10 && memcmp(p[3], "quarantine", 10) == 0) &&
	    !(len[3] == 6 && memcmp(p[3], "reject", 6) == 0))
		return false;
	c->total += n;
	if (spf == MP_SPF_PASS)
		c->spf_pass += n;
	else if (spf == MP_SPF_FAIL || spf == MP_SPF_SOFTFAIL)
		c->spf_fail += n;
	if (dmarc == MP_DMARC_PASS)
		c->dmarc_pass += n;
	else if (dmarc == MP_DMARC_FAIL)
		c->dmarc_fail += n;
	else if (dmarc == MP_DMARC_NONE)
		c->dmarc_none += n;
	else
		c->dmarc_error += n;
	if (p[2][0] == '1')
		c->spf_aligned += n;
	if (p[2][1] == '1')
		c->dkim_aligned += n;
	if (p[2][0] == '1' || p[2][1] == '1')
		c->aligned += n;
	if (len[3] == 10)
		c->dis_quarantine += n;
	else if (len[3] == 6)
		c->dis_reject += n;
	return true;
}

/*
 * The writer keeps two batches in flight so that Redis never waits for
 * it: while Redis runs batch k, the writer builds batch k+1; reading
 * k's replies flushes k+1. Each batch costs one round trip (one flush,
 * then its replies); every message is one EVALSHA.
 *
 * held[] lists the items the writer owns, in the order they were (or
 * will be) sent, so that replies match the SENT ones in order.
 */
enum slot_state { SLOT_WAIT, SLOT_SENT, SLOT_DONE };

struct slot {
	struct item *it;
	enum slot_state state;
	unsigned batch;             /* which append pass sent it */
};

struct writer {
	struct slot held[2 * MP_STORE_BATCH];
	size_t nheld;
	unsigned batch;             /* the current append pass */
	struct evalargs *a;
};

/* Appends every WAIT item as one batch; false on a connection error. */
static bool
writer_append(struct mp_store *s, struct writer *w)
{
	char err[512];

	w->batch++;
	for (size_t i = 0; i < w->nheld; i++) {
		struct slot *sl = &w->held[i];

		if (sl->state != SLOT_WAIT)
			continue;
		build_eval(s, sl->it, w->a);
		if (redisAppendCommandArgv(s->wc, w->a->argc, w->a->argv, w->a->argvlen) != REDIS_OK) {
			snprintf(err, sizeof(err), "redis at %.200s: %.200s", s->o.address,
			    s->wc->errstr);
			writer_error(s, err);
			return false;
		}
		sl->state = SLOT_SENT;
		sl->batch = w->batch;
	}
	return true;
}

/*
 * Reads the replies of the SENT items of batches up to upto. Returns
 * false on a connection error. *noscript_r counts items to resend after
 * a SCRIPT LOAD.
 */
static bool
writer_read(struct mp_store *s, struct writer *w, unsigned upto, size_t *noscript_r)
{
	uint64_t written = 0, dup = 0, failed = 0, cmds = 0, retries = 0;
	char err[512], txt[200];
	bool ok = true, any = false;

	for (size_t i = 0; i < w->nheld && ok; i++) {
		struct slot *sl = &w->held[i];
		redisReply *r = NULL;

		if (sl->state != SLOT_SENT || sl->batch > upto)
			continue;
		any = true;
		if (redisGetReply(s->wc, (void **)&r) != REDIS_OK || r == NULL) {
			/* A timeout or a reset: the context is dead, and what
			 * was not answered is resent after the reconnect. */
			snprintf(err, sizeof(err), "redis at %.200s: %.200s (reconnecting)",
			    s->o.address, s->wc->errstr[0] ? s->wc->errstr : "connection lost");
			writer_error(s, err);
			ok = false;
			break;
		}
		cmds++;
		if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
		    sl->it->noscript_retries == 0) {
			/* The server lost the script (SCRIPT FLUSH, a restart
			 * behind a proxy): reload and send again, once. */
			sl->it->noscript_retries++;
			sl->state = SLOT_WAIT;
			(*noscript_r)++;
			retries++;
		} else if (r->type == REDIS_REPLY_ERROR) {
			reply_text(r, txt, sizeof(txt));
			snprintf(err, sizeof(err), "redis script error at %.200s: %.200s "
			    "(verdict not stored)", s->o.address, txt);
			writer_error(s, err);
			failed++;
			sl->state = SLOT_DONE;
		} else {
			if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
				dup++;
			else
				written++;
			sl->state = SLOT_DONE;
		}
		freeReplyObject(r);
	}
	pthread_mutex_lock(&s->mu);
	if (any && cmds > 0)
		s->st.round_trips++;
	s->st.commands += cmds;
	s->st.written += written;
	s->st.duplicates += dup;
	s->st.failed += failed;
	s->st.retries += retries;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* After a connection error: nothing is in flight any more. */
static void
writer_lost(struct mp_store *s, struct writer *w)
{
	uint64_t resend = 0;

	writer_disconnect(s);
	for (size_t i = 0; i < w->nheld; i++) {
		if (w->held[i].state == SLOT_SENT) {
			w->held[i].state = SLOT_WAIT;
			resend++;
		}
	}
	pthread_mutex_lock(&s->mu);
	s->st.retries += resend;
	pthread_mutex_unlock(&s->mu);
}

/* Frees the DONE items (and, when giving up, every item), keeps order. */
static void
writer_release(struct mp_store *s, struct writer *w, bool give_up)
{
	size_t k = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < w->nheld; i++) {
		struct slot *sl = &w->held[i];

		if (sl->state == SLOT_DONE || give_up) {
			if (sl->state != SLOT_DONE) {
				s->st.dropped_shutdown++;
				s->drops_unlogged++;
			}
			free(sl->it);
		} else {
			w->held[k++] = *sl;
		}
	}
	w->nheld = k;
	s->inflight = k;
	if (s->count == 0 && k == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
}

/* True when some item of batch <= upto waits for its reply. */
static bool
writer_has_sent(const struct writer *w, unsigned upto)
{
	for (size_t i = 0; i < w->nheld; i++)
		if (w->held[i].state == SLOT_SENT && w->held[i].batch <= upto)
			return true;
	return false;
}

/* Writes hiredis' output buffer out without reading. */
static bool
writer_flush(struct mp_store *s)
{
	int done = 0;
	char err[512];

	while (!done) {
		if (redisBufferWrite(s->wc, &done) != REDIS_OK) {
			snprintf(err, sizeof(err), "redis at %.200s: %.200s (reconnecting)",
			    s->o.address, s->wc->errstr[0] ? s->wc->errstr : "write failed");
			writer_error(s, err);
			return false;
		}
	}
	return true;
}

static bool
writer_queue_has_work(struct mp_store *s)
{
	bool work;

	pthread_mutex_lock(&s->mu);
	work = s->count > 0 || s->stop;
	pthread_mutex_unlock(&s->mu);
	return work;
}

static void *
writer_main(void *arg_)
{
	struct mp_store *s = arg_;
	struct writer *w = xcalloc(1, sizeof(*w));

	w->a = xcalloc(1, sizeof(*w->a));
	for (;;) {
		size_t nwait = 0, noscript = 0;
		bool stop;
		unsigned older;

		pthread_mutex_lock(&s->mu);
		/* Wait only when nothing is in flight: replies to read are work. */
		while (s->count == 0 && w->nheld == 0 && !s->stop) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->work, &s->mu, &ts);
			drops_log_locked(s, false);
		}
		stop = s->stop;
		for (size_t i = 0; i < w->nheld; i++)
			nwait += w->held[i].state == SLOT_WAIT;
		while (!stop && s->count > 0 && nwait < MP_STORE_BATCH &&
		    w->nheld < MP_ARRAY_SIZE(w->held)) {
			w->held[w->nheld].it = s->ring[s->head];
			w->held[w->nheld].state = SLOT_WAIT;
			w->nheld++;
			nwait++;
			s->ring[s->head] = NULL;
			s->head = (s->head + 1) % s->cap;
			s->count--;
		}
		s->inflight = w->nheld;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;

		if (s->wc == NULL) {
			if (!writer_connect(s)) {
				if (writer_backoff(s))
					break;
				continue;
			}
		}
		older = w->batch;
		if (nwait > 0 && !writer_append(s, w)) {
			writer_lost(s, w);
			continue;
		}
		if (older == 0 || !writer_has_sent(w, older)) {
			/* Nothing older to read: send this batch now and come
			 * back with the next one. */
			if (!writer_flush(s)) {
				writer_lost(s, w);
				continue;
			}
			if (nwait > 0 && !writer_queue_has_work(s)) {
				/* Idle queue: read this batch's replies right away. */
				if (!writer_read(s, w, w->batch, &noscript)) {
					writer_lost(s, w);
					continue;
				}
			}
		} else if (!writer_read(s, w, older, &noscript)) {
			writer_lost(s, w);
			continue;
		}
		if (noscript > 0) {
			/* Replies of the newer batch come first, then the
			 * reload: SCRIPT LOAD must not interleave with them. */
			if (!writer_read(s, w, w->batch, &noscript) || !writer_load_script(s)) {
				writer_lost(s, w);
				continue;
			}
		}
		writer_release(s, w, false);
	}
	writer_release(s, w, true);
	mp_buf_free(&w->a->json);
	free(w->a);
	free(w);
	writer_disconnect(s);
	return NULL;
}

struct mp_store *
mp_store_new(const struct mp_store_options *o, char *err, size_t errlen)
{
	struct mp_store *s;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	if (o->address[0] == '\0')
		return NULL;
	if (!mp_store_options_check(o, err, errlen))
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->o = *o;
	s->cap = o->queue_size;
	s->ring = xcalloc(s->cap, sizeof(*s->ring));
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	pthread_cond_init(&s->wake, NULL);
	if ((rc = pthread_create(&s->writer, NULL, writer_main, s)) != 0) {
		snprintf(err, errlen, "redis writer thread: %s", strerror(rc));
		mp_store_free(&s);
		return NULL;
	}
	s->writer_started = true;
	return s;
}

static bool
enqueue(struct mp_store *s, struct item *it)
{
	pthread_mutex_lock(&s->mu);
	if (s->count == s->cap || s->stop) {
		s->st.dropped_full++;
		s->drops_unlogged++;
		drops_log_locked(s, false);
		pthread_mutex_unlock(&s->mu);
		free(it);
		return false;
	}
	s->ring[(s->head + s->count) % s->cap] = it;
	s->count++;
	s->st.submitted++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	return true;
}

bool
mp_store_submit(struct mp_store *s, const struct mp_store_record *r)
{
	struct item *it;

	if (s == NULL)
		return false;
	/* Allocated before taking the lock, so the lock is held briefly. */
	it = xmalloc(sizeof(*it));
	it->kind = ITEM_MESSAGE;
	it->noscript_retries = 0;
	it->r = *r;
	return enqueue(s, it);
}

bool
mp_store_submit_posture(struct mp_store *s, const char *domain, const char *org, int score,
    const char *grade, time_t now)
{
	struct item *it;

	if (s == NULL || domain == NULL || domain[0] == '\0' || score < 0 || score > 100)
		return false;
	it = xmalloc(sizeof(*it));
	it->kind = ITEM_POSTURE;
	it->noscript_retries = 0;
	mp_store_record_init(&it->r);
	mp_strlcpy(it->r.from_domain, domain, sizeof(it->r.from_domain));
	mp_strlcpy(it->r.org_domain, org ? org : "", sizeof(it->r.org_domain));
	it->r.posture_score = score;
	mp_strlcpy(it->r.posture_grade, grade ? grade : "", sizeof(it->r.posture_grade));
	it->r.time = now;
	return enqueue(s, it);
}

bool
mp_store_flush(struct mp_store *s, unsigned timeout_ms)
{
	struct timespec ts;
	bool empty;

	if (s == NULL)
		return true;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while ((s->count > 0 || s->inflight > 0) &&
	    pthread_cond_timedwait(&s->idle, &s->mu, &ts) == 0)
		;
	empty = s->count == 0 && s->inflight == 0;
	pthread_mutex_unlock(&s->mu);
	return empty;
}

void
mp_store_free_timeout(struct mp_store **sp, unsigned timeout_ms)
{
	struct mp_store *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	if (s->writer_started) {
		mp_store_flush(s, timeout_ms ? timeout_ms : s->o.timeout_ms);
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_broadcast(&s->work);
		pthread_cond_broadcast(&s->wake);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
	}
	while (s->count > 0) {
		free(s->ring[s->head]);
		s->head = (s->head + 1) % s->cap;
		s->count--;
		s->st.dropped_shutdown++;
		s->drops_unlogged++;
	}
	drops_log_locked(s, true);
	if (s->rc != NULL)
		redisFree(s->rc);
	free(s->ring);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->wake);
	free(s);
}

void
mp_store_free(struct mp_store **sp)
{
	mp_store_free_timeout(sp, 0);
}

void
mp_store_get_stats(struct mp_store *s, struct mp_store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->queued = s->count + s->inflight;
	pthread_mutex_unlock(&s->mu);
}

/* ---- the posture cache (reader connection) ----------------------------- */

static void
reader_failed(struct mp_store *s, const char *why)
{
	if (s->rc != NULL) {
		redisFree(s->rc);
		s->rc = NULL;
	}
	s->r_backoff_ms = s->r_backoff_ms == 0 ? s->o.backoff_min_ms : s->r_backoff_ms * 2;
	if (s->r_backoff_ms > s->o.backoff_max_ms)
		s->r_backoff_ms = s->o.backoff_max_ms;
	s->r_retry_at = mp_now_ms() + s->r_backoff_ms;
	mp_log(LOG_DEBUG, "redis posture read: %s", why);
}

bool
mp_store_get_posture(struct mp_store *s, const char *domain, const char *org, long max_age,
    struct mp_store_posture *out)
{
	char key[MP_STORE_KEY_MAX], err[512];
	const char *argv[5];
	size_t argvlen[5];
	redisReply *r;
	struct timespec ts;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (s == NULL || domain == NULL || domain[0] == '\0')
		return false;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)s->o.read_timeout_ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	/* Another thread is reading: waiting longer than a read would take
	 * gains nothing over computing the posture ourselves. */
	if (pthread_mutex_timedlock(&s->rmu, &ts) != 0)
		return false;
	if (s->rc == NULL) {
		if (mp_now_ms() < s->r_retry_at)
			goto out;
		if ((s->rc = mp_store_connect(&s->o, s->o.read_timeout_ms, err, sizeof(err))) == NULL) {
			reader_failed(s, err);
			goto out;
		}
	}
	mp_store_key_domain(&s->o, key, org && org[0] ? org : domain, domain);
	argv[0] = "HMGET";
	argv[1] = key;
	argv[2] = "posture_score";
	argv[3] = "posture_grade";
	argv[4] = "posture_at";
	for (int i = 0; i < 5; i++)
		argvlen[i] = strlen(argv[i]);
	if ((r = redisCommandArgv(s->rc, 5, argv, argvlen)) == NULL) {
		reader_failed(s, s->rc->errstr);
		goto out;
	}
	s->r_backoff_ms = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING) {
		char *end;
		long score = strtol(r->element[0]->str, &end, 10);
		long long at = strtoll(r->element[2]->str, NULL, 10);
		time_t now = time(NULL);

		if (*end == '\0' && score >= 0 && score <= 100 && at > 0 &&
		    (long long)now - at <= max_age) {
			out->score = (int)score;
			if (r->element[1]->type == REDIS_REPLY_STRING)
				mp_strlcpy(out->grade, r->element[1]->str, sizeof(out->grade));
			out->computed_at = (time_t)at;
			found = true;
		}
	} else if (r->type == REDIS_REPLY_ERROR) {
		reader_failed(s, r->str);
	}
	freeReplyObject(r);
out:
	pthread_mutex_unlock(&s->rmu);
	return found;
}

/* ---- audit history ----------------------------------------------------- */

/* A printable copy of s as a JSON string (never NULL, unlike json_string
 * on bytes that are not UTF-8). */
static json_t *
printable_json(const char *s, size_t max)
{
	struct mp_buf b = MP_BUF_INIT;
	json_t *j;

	mp_printable(&b, s ? s : "", s ? strlen(s) : 0, max);
	j = json_string(mp_buf_str(&b));
	mp_buf_free(&b);
	return j ? j : json_string("");
}

/* The stored entry (README "Redis key schema"); NULL + err when json is
 * not one JSON object. The caller frees it. */
static char *
audit_entry(const char *target, const char *domain, int score, const char *grade,
    const char *json, time_t when, char *err, size_t errlen)
{
	json_t *audit, *e;
	json_error_t jerr;
	char *doc;

	if (strlen(json) > MP_STORE_AUDIT_MAX) {
		snprintf(err, errlen, "the audit is larger than %d bytes", MP_STORE_AUDIT_MAX);
		return NULL;
	}
	if ((audit = json_loads(json, 0, &jerr)) == NULL || !json_is_object(audit)) {
		snprintf(err, errlen, "the audit is not a JSON object");
		json_decref(audit);
		return NULL;
	}
	e = json_object();
	json_object_set_new(e, "t", json_integer((json_int_t)when));
	json_object_set_new(e, "target", printable_json(target, 300));
	json_object_set_new(e, "domain", printable_json(domain, MP_DOMAIN_MAX));
	json_object_set_new(e, "score", score >= 0 && score <= 100 ?
	    json_integer(score) : json_null());
	json_object_set_new(e, "grade", printable_json(grade, 8));
	json_object_set_new(e, "audit", audit);
	doc = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(e);
	if (doc == NULL)
		snprintf(err, errlen, "out of memory");
	return doc;
}

/* The text of an error reply for err, printable. */
static void
audit_reply_error(const struct mp_store_options *o, const redisReply *r, char *err,
    size_t errlen)
{
	char txt[200];

	reply_text(r, txt, sizeof(txt));
	snprintf(err, errlen, "redis at %s: %s", o->address, txt);
}

bool
mp_store_put_audit(const struct mp_store_options *o, const char *target, const char *domain,
    int score, const char *grade, const char *json, time_t when, char *err, size_t errlen)
{
	char key[MP_STORE_KEY_MAX], zkey[MP_STORE_KEY_MAX], ttl[24], when_s[24], cut[32];
	char keep[16];
	struct mp_buf member = MP_BUF_INIT;
	char *doc;
	redisContext *c;
	bool ok = false;

	if (target == NULL || target[0] == '\0' || json == NULL) {
		snprintf(err, errlen, "no audit target or result to store");
		return false;
	}
	if ((doc = audit_entry(target, domain, score, grade, json, when, err, errlen)) == NULL)
		return false;
	if ((c = mp_store_connect(o, 0, err, errlen)) == NULL) {
		free(doc);
		return false;
	}
	err[0] = '\0';
	/* The member is the printable target, the same text as in the entry:
	 * the report builds the list key from it. */
	mp_printable(&member, target, strlen(target), 300);
	mp_store_key_audit(o, key, mp_buf_str(&member));
	mp_store_key_audits(o, zkey);
	snprintf(ttl, sizeof(ttl), "%ld", o->ttl_domain);
	snprintf(when_s, sizeof(when_s), "%lld", (long long)when);
	/* Targets not audited for ttl_domain have no list left: drop them. */
	snprintf(cut, sizeof(cut), "(%lld", (long long)when - (long long)o->ttl_domain);
	snprintf(keep, sizeof(keep), "%d", MP_STORE_AUDITS - 1);

	const char *cmd[][5] = {
		{ "MULTI" },
		{ "LPUSH", key, doc },
		{ "LTRIM", key, "0", keep },
		{ "EXPIRE", key, ttl },
		{ "ZADD", zkey, when_s, mp_buf_str(&member) },
		{ "ZREMRANGEBYSCORE", zkey, "-inf", cut },
		{ "EXPIRE", zkey, ttl },
		{ "EXEC" },
	};
	const int n = (int)MP_ARRAY_SIZE(cmd);

	/* One round trip: everything is written, then the replies read. */
	for (int i = 0; i < n; i++) {
		size_t len[5];
		int argc = 0;

		for (; argc < 5 && cmd[i][argc] != NULL; argc++)
			len[argc] = strlen(cmd[i][argc]);
		if (redisAppendCommandArgv(c, argc, cmd[i], len) != REDIS_OK) {
			snprintf(err, errlen, "redis at %s: %s", o->address, c->errstr);
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		redisReply *r = NULL;

		if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
			snprintf(err, errlen, "redis at %s: %s", o->address,
			    c->errstr[0] ? c->errstr : "connection lost");
			goto out;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			/* A command refused while queueing: EXEC then says
			 * EXECABORT; the first error is the one that explains. */
			if (err[0] == '\0')
				audit_reply_error(o, r, err, errlen);
		} else if (i == n - 1) {
			if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)(n - 2)) {
				if (err[0] == '\0')
					snprintf(err, errlen,
					    "redis at %s: the transaction was not run", o->address);
			} else {
				ok = true;
				for (size_t k = 0; k < r->elements; k++)
					if (r->element[k]->type == REDIS_REPLY_ERROR) {
						audit_reply_error(o, r->element[k], err, errlen);
						ok = false;
						break;
					}
			}
		}
		freeReplyObject(r);
	}
out:
	if (ok)
		err[0] = '\0';
	redisFree(c);
	mp_buf_free(&member);
	free(doc);
	return ok;
}
