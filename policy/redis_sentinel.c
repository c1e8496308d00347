/*
 * redis_sentinel: asking Sentinel where the master is, and listening for
 * its moves (see redis_sentinel.h).
 */
#include "config.h"

#include <sys/time.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "netaddr.h"
#include "redis_sentinel.h"
#include "redis_slot.h"
#include "util.h"

struct mp_redis_watch {
	redisContext *c;
	char name[256];
};

static redisContext *
sentinel_connect(const char *addr, unsigned timeout_ms, char *err, size_t errlen)
{
	struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
	struct mp_endpoint ep;
	char why[200];
	redisContext *c;

	if (!mp_endpoint_parse_hostport(addr, &ep, why, sizeof(why)) || ep.is_unix) {
		snprintf(err, errlen, "redis sentinel %s: %s", addr, ep.is_unix ? "not host:port" : why);
		return NULL;
	}
	c = redisConnectWithTimeout(ep.host, (int)ep.port, tv);
	if (c == NULL || c->err) {
		snprintf(err, errlen, "cannot connect to redis sentinel at %s: %s", addr,
		    c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

/* A "host:port" from a host string and a port string or integer reply. */
static bool
reply_addr(const redisReply *host, const redisReply *port, char *addr, size_t addrlen)
{
	long long p;

	if (host == NULL || port == NULL || host->type != REDIS_REPLY_STRING ||
	    !mp_redis_host_ok(host->str, host->len))
		return false;
	if (port->type == REDIS_REPLY_INTEGER)
		p = port->integer;
	else if (port->type == REDIS_REPLY_STRING)
		p = strtoll(port->str, NULL, 10);
	else
		return false;
	if (p < 1 || p > 65535)
		return false;
	mp_redis_addr(addr, addrlen, host->str, host->len, p);
	return true;
}

static bool
master_of(const redisReply *r, char *addr, size_t addrlen)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    reply_addr(r->element[0], r->element[1], addr, addrlen);
}

/* A field of a flat name/value array, or NULL. */
static const redisReply *
field(const redisReply *r, const char *name)
{
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1];
	return NULL;
}

/* The first replica of a SENTINEL replicas reply that is up and linked. */
static bool
replica_of(const redisReply *r, char *addr, size_t addrlen)
{
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *e = r->element[i], *flags = field(e, "flags");
		const redisReply *link = field(e, "master-link-status");

		if (flags == NULL || flags->type != REDIS_REPLY_STRING ||
		    strstr(flags->str, "down") != NULL || strstr(flags->str, "disconnected") != NULL ||
		    link == NULL || link->type != REDIS_REPLY_STRING || strcmp(link->str, "ok") != 0)
			continue;
		if (reply_addr(field(e, "ip"), field(e, "port"), addr, addrlen))
			return true;
	}
	return false;
}

/* Asks each sentinel "SENTINEL sub name" until pick finds an address in a reply. */
static bool
ask(const char *sentinels, const char *sub, const char *name, unsigned timeout_ms,
    bool (*pick)(const redisReply *, char *, size_t), char *addr, size_t addrlen, char *err,
    size_t errlen)
{
	char one[MP_REDIS_ADDR_MAX];
	const char *argv[3] = { "SENTINEL", sub, name };
	size_t argvlen[3] = { 8, strlen(sub), strlen(name) };

	snprintf(err, errlen, "redis: no sentinel given");
	for (const char *p = mp_redis_list_next(sentinels, one, sizeof(one)); one[0] != '\0';
	    p = mp_redis_list_next(p, one, sizeof(one))) {
		redisContext *c = sentinel_connect(one, timeout_ms, err, errlen);
		redisReply *r;
		bool found;

		if (c == NULL)
			continue;
		r = redisCommandArgv(c, 3, argv, argvlen);
		found = r != NULL && pick(r, addr, addrlen);
		if (!found)
			snprintf(err, errlen, "redis sentinel at %s: %s", one, r == NULL ?
			    (c->errstr[0] ? c->errstr : "no reply") : r->type == REDIS_REPLY_ERROR ?
			    "refused the question" : "knows no such server for this master name");
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		if (found)
			return true;
	}
	return false;
}

bool
mp_redis_sentinel_master(const char *sentinels, const char *name, unsigned timeout_ms,
    char *addr, size_t addrlen, char *err, size_t errlen)
{
	return ask(sentinels, "get-master-addr-by-name", name, timeout_ms, master_of, addr,
	    addrlen, err, errlen);
}

bool
mp_redis_sentinel_replica(const char *sentinels, const char *name, unsigned timeout_ms,
    char *addr, size_t addrlen, char *err, size_t errlen)
{
	return ask(sentinels, "replicas", name, timeout_ms, replica_of, addr, addrlen, err, errlen);
}

/* ---- +switch-master ---------------------------------------------------- */

struct mp_redis_watch *
mp_redis_watch_new(const char *sentinels, const char *name, unsigned timeout_ms, char *err,
    size_t errlen)
{
	char one[MP_REDIS_ADDR_MAX];

	snprintf(err, errlen, "redis: no sentinel given");
	for (const char *p = mp_redis_list_next(sentinels, one, sizeof(one)); one[0] != '\0';
	    p = mp_redis_list_next(p, one, sizeof(one))) {
		redisContext *c = sentinel_connect(one, timeout_ms, err, errlen);
		redisReply *r;
		struct mp_redis_watch *w;

		if (c == NULL)
			continue;
		r = redisCommand(c, "SUBSCRIBE +switch-master");
		if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errlen, "redis sentinel at %s: SUBSCRIBE failed", one);
			if (r != NULL)
				freeReplyObject(r);
			redisFree(c);
			continue;
		}
		freeReplyObject(r);
		w = xcalloc(1, sizeof(*w));
		w->c = c;
		mp_strlcpy(w->name, name, sizeof(w->name));
		return w;
	}
	return NULL;
}

/* "name oldip oldport newip newport": the new address when name is ours. */
static bool
switch_of(const struct mp_redis_watch *w, const redisReply *r, char *addr, size_t addrlen)
{
	char name[256], oldip[64], oldport[8], ip[64], port[8];
	const redisReply *msg;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    (msg = r->element[2])->type != REDIS_REPLY_STRING || msg->len > 400 ||
	    sscanf(msg->str, "%255s %63s %7s %63s %7s", name, oldip, oldport, ip, port) != 5 ||
	    strcmp(name, w->name) != 0 || !mp_redis_host_ok(ip, strlen(ip)))
		return false;
	mp_redis_addr(addr, addrlen, ip, strlen(ip), strtoll(port, NULL, 10));
	return true;
}

bool
mp_redis_watch_poll(struct mp_redis_watch *w, char *addr, size_t addrlen, bool *dead)
{
	struct pollfd pfd = { w->c->fd, POLLIN, 0 };
	void *r = NULL;
	bool moved = false;

	*dead = false;
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	/* Readable: one read() that does not block. */
	if (redisBufferRead(w->c) != REDIS_OK) {
		*dead = true;
		return false;
	}
	while (redisGetReplyFromReader(w->c, &r) == REDIS_OK && r != NULL) {
		moved |= switch_of(w, r, addr, addrlen);
		freeReplyObject(r);
		r = NULL;
	}
	return moved;
}

void
mp_redis_watch_free(struct mp_redis_watch **wp)
{
	if (*wp == NULL)
		return;
	redisFree((*wp)->c);
	free(*wp);
	*wp = NULL;
}
