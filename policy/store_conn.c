/*
 * store_conn: the [redis] options, and connections set up from them
 * (AUTH with a password read on every connect, SELECT). Where they go
 * depends on the deployment: the address, the master (or a replica)
 * that Sentinel names, or the node of a Cluster that serves the key
 * (redis_cluster routes; mp_store_locate points it at the deployment).
 * The writer, the posture reader, the audit history and
 * mailposture-report all connect through here.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netaddr.h"
#include "redis_cluster.h"
#include "redis_sentinel.h"
#include "store_int.h"
#include "store_report.h"

/*
 * What is not a configuration option: how often a drop or an error is
 * logged again, and the reconnect backoff of the writer and the reader.
 */
#define DROP_LOG_INTERVAL_S 60
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000

/* Redis has 16 databases unless its own configuration says otherwise. */
#define REDIS_DB_MAX 15

/* The option table of conf.c holds the defaults: no second copy here. */
void
mp_store_options_defaults(struct mp_store_options *o)
{
	struct mp_conf *c = mp_conf_new_defaults();

	mp_store_options_from_conf(c, o);
	mp_conf_unref(&c);
}

void
mp_store_options_from_conf(const struct mp_conf *c, struct mp_store_options *o)
{
	memset(o, 0, sizeof(*o));
	o->drop_log_interval_s = DROP_LOG_INTERVAL_S;
	o->backoff_min_ms = BACKOFF_MIN_MS;
	o->backoff_max_ms = BACKOFF_MAX_MS;
	o->halflife = MP_STORE_HALFLIFE;
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
	mp_strlcpy(o->sentinels, mp_conf_str(c, "redis", "sentinels"), sizeof(o->sentinels));
	mp_strlcpy(o->master_name, mp_conf_str(c, "redis", "master_name"),
	    sizeof(o->master_name));
	o->read_replica = strcmp(mp_conf_str(c, "redis", "read_from"), "replica") == 0;
	o->replica_wait_ms = (unsigned)mp_conf_int(c, "redis", "replica_wait");
	mp_strlcpy(o->cluster, mp_conf_str(c, "redis", "cluster"), sizeof(o->cluster));
	o->share_posture = mp_conf_bool(c, "redis", "share_posture");
	/* The synchronous posture read (mp_store_get_posture, for tools;
	 * the milter only reads its local table) waits a fifth of the
	 * command timeout, and never more than 200 ms. */
	o->read_timeout_ms = o->timeout_ms / 5;
	if (o->read_timeout_ms < 10)
		o->read_timeout_ms = 10;
	if (o->read_timeout_ms > 200)
		o->read_timeout_ms = 200;
	/* [report] max_rows and from, which the capture applies. */
	mp_store_report_options_from_conf(c, o);
}

/* [redis] address, parsed by the one parser of addresses (netaddr). */
static bool
parse_address(const char *addr, struct mp_endpoint *ep, char *err, size_t errlen)
{
	char why[200];

	if (mp_endpoint_parse_hostport(addr, ep, why, sizeof(why)))
		return true;
	snprintf(err, errlen, "redis address: %s", why);
	return false;
}

/* A list of sentinels or cluster nodes: each a host and a port. */
static bool
check_list(const char *what, const char *list, char *err, size_t errlen)
{
	char item[MP_REDIS_ADDR_MAX], why[200];
	struct mp_endpoint ep;
	const char *p = list;
	size_t n = 0;

	/* An item too long for item[] comes back "": an error too. */
	while (*(p += strspn(p, " \t,")) != '\0') {
		n++;
		p = mp_redis_list_next(p, item, sizeof(item));
		if (item[0] == '\0' || !mp_endpoint_parse_hostport(item, &ep, why, sizeof(why)) ||
		    ep.is_unix) {
			snprintf(err, errlen, "redis %s: item %zu is not HOST:PORT", what, n);
			return false;
		}
	}
	return true;
}

/* One deployment: an address, sentinels and a master name, or a cluster. */
static bool
check_deployment(const struct mp_store_options *o, char *err, size_t errlen)
{
	struct mp_endpoint ep;

	if ((o->address[0] != '\0') + (o->sentinels[0] != '\0') + (o->cluster[0] != '\0') > 1) {
		snprintf(err, errlen, "redis: set one of address, sentinels and cluster");
		return false;
	}
	if (o->address[0] != '\0' && !parse_address(o->address, &ep, err, errlen))
		return false;
	if (o->sentinels[0] != '\0' && o->master_name[0] == '\0') {
		snprintf(err, errlen, "redis sentinels: master_name is needed too");
		return false;
	}
	/* A Cluster has database 0 only. */
	if (o->cluster[0] != '\0' && o->db != 0) {
		snprintf(err, errlen, "redis cluster: db must be 0");
		return false;
	}
	return check_list("sentinels", o->sentinels, err, errlen) &&
	    check_list("cluster", o->cluster, err, errlen);
}

bool
mp_store_options_enabled(const struct mp_store_options *o)
{
	return o->address[0] != '\0' || o->sentinels[0] != '\0' || o->cluster[0] != '\0';
}

/*
 * The option table of conf.c bounds what is configured. This checks only
 * what the store itself relies on, also for options filled in by hand
 * (tests, tools): one deployment it can reach, a prefix that keeps key names
 * whole, a database Redis has, a queue of at least one slot, positive
 * timeouts and TTLs.
 */
bool
mp_store_options_check(const struct mp_store_options *o, char *err, size_t errlen)
{
	if (!check_deployment(o, err, errlen))
		return false;
	/* Braces would forge the {org} hash tag; spaces and control
	 * characters would make key names that tools cannot type. */
	for (const char *p = o->key_prefix; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= ' ' || ch >= 0x7f || ch == '{' || ch == '}') {
			snprintf(err, errlen, "redis key_prefix: no spaces, braces or control characters");
			return false;
		}
	}
	if (o->db < 0 || o->db > REDIS_DB_MAX) {
		snprintf(err, errlen, "redis db: 0..%d", REDIS_DB_MAX);
		return false;
	}
	/* The queue is a ring of queue_size slots. */
	if (o->queue_size < 1) {
		snprintf(err, errlen, "redis queue_size: at least 1");
		return false;
	}
	if (o->timeout_ms < 1 || o->ttl_message < 1 || o->ttl_domain < 1 || o->ttl_day < 1 ||
	    o->halflife < 1) {
		snprintf(err, errlen, "redis: timeouts and TTLs must be positive");
		return false;
	}
	return true;
}

unsigned
store_backoff_next(const struct mp_store_options *o, unsigned prev)
{
	unsigned ms = prev == 0 ? o->backoff_min_ms : prev * 2;

	return ms > o->backoff_max_ms ? o->backoff_max_ms : ms;
}

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

void
store_reply_text(const redisReply *r, char *out, size_t outlen)
{
	struct mp_buf b = MP_BUF_INIT;

	if (r->str != NULL)
		mp_printable(&b, r->str, r->len, MP_SHOW_LINE);
	mp_strlcpy(out, mp_buf_str(&b), outlen);
	mp_buf_free(&b);
}

bool
store_setup_cmd(redisContext *c, const char *addr, const char *what, int argc, const char **argv,
    const size_t *argvlen, redisReply **reply_r, char *err, size_t errlen)
{
	redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
	char txt[STORE_REPLY_TEXT];

	if (reply_r)
		*reply_r = NULL;
	if (r == NULL) {
		snprintf(err, errlen, "redis %s at %s: %s", what, addr,
		    c->errstr[0] ? c->errstr : "connection lost");
		return false;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		store_reply_text(r, txt, sizeof(txt));
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

/* AUTH with the password of o->password_file; false + err on failure. */
static bool
conn_auth(redisContext *c, const struct mp_store_options *o, const char *addr, char *err,
    size_t errlen)
{
	char pw[513];
	const char *argv[2] = { "AUTH", pw };
	size_t argvlen[2] = { 4, 0 };
	bool ok;

	if (!read_password(o->password_file, pw, sizeof(pw), &argvlen[1], err, errlen))
		return false;
	ok = store_setup_cmd(c, addr, "AUTH", 2, argv, argvlen, NULL, err, errlen);
	explicit_bzero(pw, sizeof(pw));
	return ok;
}

/* SELECT o->db; false + err on failure. */
static bool
conn_select(redisContext *c, const struct mp_store_options *o, const char *addr, char *err,
    size_t errlen)
{
	char dbs[16];
	const char *argv[2] = { "SELECT", dbs };
	size_t argvlen[2] = { 6, 0 };

	snprintf(dbs, sizeof(dbs), "%d", o->db);
	argvlen[1] = strlen(dbs);
	return store_setup_cmd(c, addr, "SELECT", 2, argv, argvlen, NULL, err, errlen);
}

/* One connection to addr, set up: AUTH, and SELECT but on a Cluster. */
static redisContext *
connect_addr(const struct mp_store_options *o, const char *addr, unsigned timeout_ms, char *err,
    size_t errlen)
{
	struct mp_endpoint ep;
	redisContext *c;

	if (!parse_address(addr, &ep, err, errlen))
		return NULL;
	if (timeout_ms == 0)
		timeout_ms = o->timeout_ms;
	if (ep.is_unix)
		c = redisConnectUnixWithTimeout(ep.host, ms_tv(timeout_ms));
	else
		c = redisConnectWithTimeout(ep.host, (int)ep.port, ms_tv(timeout_ms));
	if (c == NULL || c->err) {
		snprintf(err, errlen, "cannot connect to redis at %s: %s", addr,
		    c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	/* The connect timeout does not cover commands; a reconnect would
	 * lose it too, which is why we never use redisReconnect. */
	redisSetTimeout(c, ms_tv(timeout_ms));
	if ((o->password_file[0] != '\0' && !conn_auth(c, o, addr, err, errlen)) ||
	    (o->cluster[0] == '\0' && !conn_select(c, o, addr, err, errlen))) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/*
 * With Sentinel, a server that was the master when Sentinel was asked
 * may have been demoted since: a writer insists on ROLE master.
 */
static bool
conn_is_master(redisContext *c, const char *addr, char *err, size_t errlen)
{
	redisReply *r;
	bool master;

	if (!store_setup_cmd(c, addr, "ROLE", 1, (const char *[]){ "ROLE" }, (size_t[]){ 4 }, &r,
	    err, errlen))
		return false;
	master = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
	freeReplyObject(r);
	if (!master)
		snprintf(err, errlen, "redis at %s is not the master (yet): asking the sentinels "
		    "again", addr);
	return master;
}

redisContext *
mp_store_dial(void *arg, const char *addr, char *err, size_t errlen)
{
	const struct mp_store_options *o = arg;
	redisContext *c = connect_addr(o, addr, o->timeout_ms, err, errlen);

	if (c != NULL && o->sentinels[0] != '\0' && !conn_is_master(c, addr, err, errlen)) {
		redisFree(c);
		return NULL;
	}
	return c;
}

redisContext *
mp_store_dial_reader(void *arg, const char *addr, char *err, size_t errlen)
{
	const struct mp_store_options *o = arg;

	return connect_addr(o, addr, o->timeout_ms, err, errlen);
}

bool
mp_store_locate(const struct mp_store_options *o, struct mp_redis_nodes *n, bool for_read,
    char *err, size_t errlen)
{
	char addr[MP_REDIS_ADDR_MAX];

	if (o->cluster[0] != '\0')
		return mp_redis_nodes_discover(n, o->cluster, err, errlen);
	if (o->sentinels[0] == '\0') {
		mp_redis_nodes_single(n, o->address);
		return true;
	}
	/* A reader settles for the master when no replica is up. */
	if (!(for_read && o->read_replica &&
	    mp_redis_sentinel_replica(o->sentinels, o->master_name, o->timeout_ms, addr,
	    sizeof(addr), err, errlen)) &&
	    !mp_redis_sentinel_master(o->sentinels, o->master_name, o->timeout_ms, addr,
	    sizeof(addr), err, errlen))
		return false;
	mp_redis_nodes_single(n, addr);
	return true;
}

struct redisContext *
mp_store_connect(const struct mp_store_options *o, unsigned timeout_ms, char *err, size_t errlen)
{
	char addr[MP_REDIS_ADDR_MAX];
	redisContext *c;

	if (!mp_store_options_enabled(o)) {
		snprintf(err, errlen, "no Redis address configured");
		return NULL;
	}
	if (o->cluster[0] != '\0') {
		snprintf(err, errlen, "redis cluster: no single connection serves every key");
		return NULL;
	}
	if (o->sentinels[0] == '\0')
		return connect_addr(o, o->address, timeout_ms, err, errlen);
	if (!mp_redis_sentinel_master(o->sentinels, o->master_name, o->timeout_ms, addr,
	    sizeof(addr), err, errlen))
		return NULL;
	if ((c = connect_addr(o, addr, timeout_ms, err, errlen)) != NULL &&
	    !conn_is_master(c, addr, err, errlen)) {
		redisFree(c);
		c = NULL;
	}
	return c;
}
