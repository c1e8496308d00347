/*
 * redis_slot: key slots, slot tags, redirections and the slot map (see
 * redis_slot.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_slot.h"
#include "util.h"

#define NODE_NONE UINT16_MAX
#define NODES_MAX (NODE_NONE - 1)

struct mp_redis_map {
	uint16_t slot[MP_REDIS_SLOTS];  /* node index, NODE_NONE: unserved */
	char (*addr)[MP_REDIS_ADDR_MAX];
	size_t n, cap;
};

/* ---- slots ------------------------------------------------------------- */

static uint16_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), a byte at a time. */
static void
crc_build(void)
{
	for (unsigned b = 0; b < 256; b++) {
		uint16_t crc = (uint16_t)(b << 8);

		for (int k = 0; k < 8; k++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
		crc_table[b] = crc;
	}
}

uint16_t
mp_redis_crc16(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;

	pthread_once(&crc_once, crc_build);
	for (size_t i = 0; i < len; i++)
		crc = (uint16_t)(crc << 8) ^ crc_table[((crc >> 8) ^ p[i]) & 0xff];
	return crc;
}

unsigned
mp_redis_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len), *close;

	if (open != NULL) {
		size_t rest = len - (size_t)(open - key) - 1;

		close = memchr(open + 1, '}', rest);
		/* "{}" is no tag: the whole key counts. */
		if (close != NULL && close > open + 1)
			return mp_redis_crc16(open + 1, (size_t)(close - open - 1)) % MP_REDIS_SLOTS;
	}
	return mp_redis_crc16(key, len) % MP_REDIS_SLOTS;
}

static uint32_t tag_of[MP_REDIS_SLOTS];
static pthread_once_t tag_once = PTHREAD_ONCE_INIT;

/* About 110,000 CRCs of six bytes at most, once per process. */
static void
tags_build(void)
{
	unsigned left = MP_REDIS_SLOTS;
	bool *seen = xcalloc(MP_REDIS_SLOTS, sizeof(*seen));
	char s[MP_REDIS_TAG_MAX];

	for (uint32_t n = 0; left > 0; n++) {
		int len = snprintf(s, sizeof(s), "%u", n);
		unsigned slot = mp_redis_crc16(s, (size_t)len) % MP_REDIS_SLOTS;

		if (!seen[slot]) {
			seen[slot] = true;
			tag_of[slot] = n;
			left--;
		}
	}
	free(seen);
}

void
mp_redis_slot_tag(unsigned slot, char tag[MP_REDIS_TAG_MAX])
{
	pthread_once(&tag_once, tags_build);
	snprintf(tag, MP_REDIS_TAG_MAX, "%u", tag_of[slot % MP_REDIS_SLOTS]);
}

/* ---- redirections ------------------------------------------------------ */

static bool
has_word(const char *err, size_t len, const char *w)
{
	size_t n = strlen(w);

	return len >= n && memcmp(err, w, n) == 0 && (len == n || err[n] == ' ');
}

enum mp_redis_redirect
mp_redis_redirect_of(const char *err, size_t len, unsigned *slot, char *addr, size_t addrlen)
{
	enum mp_redis_redirect kind;
	const char *p, *end = err + len, *sp;
	unsigned long v = 0;

	if (has_word(err, len, "TRYAGAIN"))
		return MP_REDIS_TRYAGAIN;
	if (has_word(err, len, "CLUSTERDOWN"))
		return MP_REDIS_CLUSTERDOWN;
	if (has_word(err, len, "MOVED"))
		kind = MP_REDIS_MOVED, p = err + 6;
	else if (has_word(err, len, "ASK"))
		kind = MP_REDIS_ASK, p = err + 4;
	else
		return MP_REDIS_ERROR;
	if (p >= end || !mp_ascii_isdigit((unsigned char)*p))
		return MP_REDIS_ERROR;
	for (; p < end && mp_ascii_isdigit((unsigned char)*p) && v < MP_REDIS_SLOTS; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (v >= MP_REDIS_SLOTS || p >= end || *p != ' ')
		return MP_REDIS_ERROR;
	p++;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL)
		sp = end;
	if ((size_t)(sp - p) >= addrlen || !mp_redis_host_ok(p, (size_t)(sp - p)))
		return MP_REDIS_ERROR;
	memcpy(addr, p, (size_t)(sp - p));
	addr[sp - p] = '\0';
	*slot = (unsigned)v;
	return kind;
}

bool
mp_redis_host_ok(const char *host, size_t len)
{
	if (len == 0 || len > MP_REDIS_ADDR_MAX - 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!mp_ascii_isalpha(c) && !mp_ascii_isdigit(c) && strchr(".:-_[]", c) == NULL)
			return false;
	}
	return true;
}

void
mp_redis_addr(char *out, size_t outlen, const char *host, size_t hostlen, long long port)
{
	bool v6 = memchr(host, ':', hostlen) != NULL;

	if (hostlen > MP_REDIS_ADDR_MAX - 10)
		hostlen = MP_REDIS_ADDR_MAX - 10;
	snprintf(out, outlen, "%s%.*s%s:%lld", v6 ? "[" : "", (int)hostlen, host, v6 ? "]" : "",
	    port);
}

const char *
mp_redis_list_next(const char *p, char *item, size_t itemlen)
{
	size_t len;

	p += strspn(p, " \t,");
	len = strcspn(p, " \t,");
	item[0] = '\0';
	if (len > 0 && len < itemlen) {
		memcpy(item, p, len);
		item[len] = '\0';
	}
	return p + len;
}

/* ---- the map ----------------------------------------------------------- */

struct mp_redis_map *
mp_redis_map_new(void)
{
	struct mp_redis_map *m = xcalloc(1, sizeof(*m));

	for (size_t i = 0; i < MP_REDIS_SLOTS; i++)
		m->slot[i] = NODE_NONE;
	return m;
}

void
mp_redis_map_free(struct mp_redis_map **mp)
{
	if (*mp == NULL)
		return;
	free((*mp)->addr);
	free(*mp);
	*mp = NULL;
}

size_t
mp_redis_map_node(struct mp_redis_map *m, const char *addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->addr[i], addr) == 0)
			return i;
	if (m->n == NODES_MAX)
		return MP_REDIS_NO_NODE;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 4;
		m->addr = xreallocarray(m->addr, m->cap, sizeof(*m->addr));
	}
	mp_strlcpy(m->addr[m->n], addr, sizeof(m->addr[m->n]));
	return m->n++;
}

void
mp_redis_map_assign(struct mp_redis_map *m, unsigned slot, size_t node)
{
	if (slot < MP_REDIS_SLOTS && node < m->n)
		m->slot[slot] = (uint16_t)node;
}

void
mp_redis_map_single(struct mp_redis_map *m, const char *addr)
{
	size_t node = mp_redis_map_node(m, addr);

	for (unsigned s = 0; s < MP_REDIS_SLOTS; s++)
		mp_redis_map_assign(m, s, node);
}

size_t
mp_redis_map_nodes(const struct mp_redis_map *m)
{
	return m->n;
}

const char *
mp_redis_map_addr(const struct mp_redis_map *m, size_t node)
{
	return node < m->n ? m->addr[node] : "";
}

size_t
mp_redis_map_node_of(const struct mp_redis_map *m, unsigned slot)
{
	if (slot >= MP_REDIS_SLOTS || m->slot[slot] == NODE_NONE)
		return MP_REDIS_NO_NODE;
	return m->slot[slot];
}

unsigned
mp_redis_map_unserved(const struct mp_redis_map *m)
{
	unsigned n = 0;

	for (unsigned s = 0; s < MP_REDIS_SLOTS; s++)
		n += m->slot[s] == NODE_NONE;
	return n;
}

/* ---- CLUSTER SHARDS and CLUSTER SLOTS ---------------------------------- */

static bool
is_str(const redisReply *r)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* A field of a flat name/value array (RESP2 form of a map), or NULL. */
static const redisReply *
field(const redisReply *r, const char *name)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (is_str(r->element[i]) && strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1];
	return NULL;
}

static bool
field_is(const redisReply *r, const char *name, const char *value)
{
	const redisReply *v = field(r, name);

	return is_str(v) && strcmp(v->str, value) == 0;
}

/*
 * The address of a node: host "" is the node that was asked, "?" an
 * endpoint it does not know (no address then).
 */
static bool
node_addr(const redisReply *host, long long port, const char *asked, char *addr)
{
	const char *h = host->str;
	size_t len = host->len;

	if (port < 1 || port > 65535 || (len > 0 && !mp_redis_host_ok(h, len)))
		return false;
	if (len == 0) {
		/* asked is "host:port" or "[v6]:port": its host part. */
		const char *colon = strrchr(asked, ':');

		if (colon == NULL)
			return false;
		h = asked[0] == '[' ? asked + 1 : asked;
		len = (size_t)(colon - h) - (asked[0] == '[');
	}
	mp_redis_addr(addr, MP_REDIS_ADDR_MAX, h, len, port);
	return true;
}

static bool
bad_reply(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "unexpected reply to %s", what);
	return false;
}

/* Assigns the ranges of pairs[0..n) (start, end integers) to node. */
static bool
assign_ranges(struct mp_redis_map *m, const redisReply *const *pairs, size_t n, size_t node)
{
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (pairs[i]->type != REDIS_REPLY_INTEGER || pairs[i + 1]->type != REDIS_REPLY_INTEGER ||
		    pairs[i]->integer < 0 || pairs[i + 1]->integer >= MP_REDIS_SLOTS ||
		    pairs[i]->integer > pairs[i + 1]->integer)
			return false;
		for (long long s = pairs[i]->integer; s <= pairs[i + 1]->integer; s++)
			mp_redis_map_assign(m, (unsigned)s, node);
	}
	return true;
}

/* The master of one shard: its address into addr; false when it has none online. */
static bool
shard_master(const redisReply *nodes, const char *asked, char *addr)
{
	for (size_t k = 0; nodes != NULL && nodes->type == REDIS_REPLY_ARRAY &&
	    k < nodes->elements; k++) {
		const redisReply *nd = nodes->element[k], *host, *port;

		if (!field_is(nd, "role", "master") || field_is(nd, "health", "fail"))
			continue;
		host = field(nd, "endpoint");
		if (!is_str(host) || (host->len == 1 && host->str[0] == '?'))
			host = field(nd, "ip");
		port = field(nd, "port");
		if (is_str(host) && port != NULL && port->type == REDIS_REPLY_INTEGER &&
		    node_addr(host, port->integer, asked, addr))
			return true;
	}
	return false;
}

bool
mp_redis_map_from_shards(struct mp_redis_map *m, const redisReply *r, const char *asked,
    char *err, size_t errlen)
{
	char addr[MP_REDIS_ADDR_MAX];

	if (r->type != REDIS_REPLY_ARRAY)
		return bad_reply(err, errlen, "CLUSTER SHARDS");
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *sh = r->element[i], *slots = field(sh, "slots");
		size_t node;

		if (slots == NULL || slots->type != REDIS_REPLY_ARRAY)
			return bad_reply(err, errlen, "CLUSTER SHARDS");
		/* A shard that serves no slot, or whose master is down. */
		if (slots->elements == 0 || !shard_master(field(sh, "nodes"), asked, addr))
			continue;
		if ((node = mp_redis_map_node(m, addr)) == MP_REDIS_NO_NODE ||
		    !assign_ranges(m, (const redisReply *const *)slots->element, slots->elements, node))
			return bad_reply(err, errlen, "CLUSTER SHARDS");
	}
	return true;
}

bool
mp_redis_map_from_slots(struct mp_redis_map *m, const redisReply *r, const char *asked,
    char *err, size_t errlen)
{
	char addr[MP_REDIS_ADDR_MAX];

	if (r->type != REDIS_REPLY_ARRAY)
		return bad_reply(err, errlen, "CLUSTER SLOTS");
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *master;
		size_t node;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    (master = e->element[2])->type != REDIS_REPLY_ARRAY || master->elements < 2 ||
		    !is_str(master->element[0]) || master->element[1]->type != REDIS_REPLY_INTEGER)
			return bad_reply(err, errlen, "CLUSTER SLOTS");
		if (!node_addr(master->element[0], master->element[1]->integer, asked, addr))
			continue;
		if ((node = mp_redis_map_node(m, addr)) == MP_REDIS_NO_NODE ||
		    !assign_ranges(m, (const redisReply *const *)e->element, 2, node))
			return bad_reply(err, errlen, "CLUSTER SLOTS");
	}
	return true;
}
