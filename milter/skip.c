#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "skip.h"
#include "util.h"

/* A network in one form for both families: IPv4 lives in the IPv4-mapped
 * range ::ffff:0:0/96, so one comparison serves both. */
struct net {
	unsigned char addr[16];
	unsigned prefix;        /* 0..128, in the 128-bit space */
};

struct mp_netlist {
	size_t count;
	struct net *net;
};

/* One skip_mail_from entry: "domain" (itself and its subdomains),
 * "@domain" (that domain only) or "local@domain" (one address). */
struct sender {
	char local[65];         /* "" unless one address */
	bool exact;             /* "@domain" or "local@domain": no subdomains */
	char dom[MP_DOMAIN_MAX];
};

struct mp_domlist {
	size_t count;
	struct sender *s;
};

static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Text address to the 128-bit form; false when it is neither family. */
static bool
addr_parse(const char *s, unsigned char out[16], bool *v4_r)
{
	unsigned char a4[4];

	if (inet_pton(AF_INET, s, a4) == 1) {
		memcpy(out, v4mapped, 12);
		memcpy(out + 12, a4, 4);
		*v4_r = true;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*v4_r = memcmp(out, v4mapped, 12) == 0;
		return true;
	}
	return false;
}

static bool
prefix_match(const unsigned char *a, const unsigned char *net, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, net, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	return ((a[bytes] ^ net[bytes]) & (0xff00 >> bits) & 0xff) == 0;
}

/* Calls fn on each entry of a list separated by spaces, tabs or commas. */
static bool
each_entry(const char *spec, bool (*fn)(void *, const char *, size_t, char *, size_t),
    void *arg, char *err, size_t errlen)
{
	const char *p = spec ? spec : "";

	for (;;) {
		size_t n;

		p += strspn(p, " \t\r\n,");
		if (*p == '\0')
			return true;
		n = strcspn(p, " \t\r\n,");
		if (!fn(arg, p, n, err, errlen))
			return false;
		p += n;
	}
}

static bool
add_net(void *arg, const char *s, size_t n, char *err, size_t errlen)
{
	struct mp_netlist *l = arg;
	char text[INET6_ADDRSTRLEN + 8], *slash, *end;
	struct net net;
	bool v4;
	long len;

	if (l->count >= MP_SKIP_MAX_ENTRIES) {
		snprintf(err, errlen, "more than %d networks", MP_SKIP_MAX_ENTRIES);
		return false;
	}
	if (n >= sizeof(text)) {
		snprintf(err, errlen, "network \"%.*s...\" is too long", 20, s);
		return false;
	}
	memcpy(text, s, n);
	text[n] = '\0';
	slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	if (!addr_parse(text, net.addr, &v4)) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 address", text);
		return false;
	}
	net.prefix = 128;
	if (slash) {
		unsigned max = v4 && strchr(text, ':') == NULL ? 32 : 128;

		if (slash[1] < '0' || slash[1] > '9') {
			snprintf(err, errlen, "\"%s/%s\": bad prefix length", text, slash + 1);
			return false;
		}
		len = strtol(slash + 1, &end, 10);
		if (*end != '\0' || len < 0 || (unsigned long)len > max) {
			snprintf(err, errlen, "\"%s/%s\": prefix length out of range 0..%u",
			    text, slash + 1, max);
			return false;
		}
		net.prefix = (unsigned)len + (max == 32 ? 96 : 0);
	}
	/* Bits set past the prefix are almost always a typo: refuse them. */
	for (unsigned bit = net.prefix; bit < 128; bit++) {
		if (net.addr[bit / 8] & (0x80 >> (bit % 8))) {
			snprintf(err, errlen, "\"%s/%s\": host bits set past the prefix",
			    text, slash ? slash + 1 : "");
			return false;
		}
	}
	l->net = xreallocarray(l->net, l->count + 1, sizeof(*l->net));
	l->net[l->count++] = net;
	return true;
}

struct mp_netlist *
mp_netlist_parse(const char *spec, char *err, size_t errlen)
{
	struct mp_netlist *l = xcalloc(1, sizeof(*l));

	if (!each_entry(spec, add_net, l, err, errlen))
		mp_netlist_free(&l);
	return l;
}

void
mp_netlist_free(struct mp_netlist **lp)
{
	struct mp_netlist *l = *lp;

	if (l == NULL)
		return;
	free(l->net);
	free(l);
	*lp = NULL;
}

bool
mp_netlist_match(const struct mp_netlist *l, const char *ip)
{
	unsigned char a[16];
	bool v4;

	if (l == NULL || ip == NULL || !addr_parse(ip, a, &v4))
		return false;
	for (size_t i = 0; i < l->count; i++)
		if (prefix_match(a, l->net[i].addr, l->net[i].prefix))
			return true;
	return false;
}

size_t
mp_netlist_count(const struct mp_netlist *l)
{
	return l ? l->count : 0;
}

static bool
add_dom(void *arg, const char *s, size_t n, char *err, size_t errlen)
{
	struct mp_domlist *l = arg;
	struct sender e;
	const char *why = "invalid", *at, *d = s;
	size_t dlen = n;

	if (l->count >= MP_SKIP_MAX_ENTRIES) {
		snprintf(err, errlen, "more than %d senders", MP_SKIP_MAX_ENTRIES);
		return false;
	}
	memset(&e, 0, sizeof(e));
	at = memrchr(s, '@', n);
	if (at != NULL) {
		size_t llen = (size_t)(at - s);

		if (llen >= sizeof(e.local))
			goto bad;
		memcpy(e.local, s, llen);
		e.local[llen] = '\0';
		e.exact = true;
		d = at + 1;
		dlen = n - llen - 1;
	}
	if (!mp_domain_normalize(d, dlen, e.dom, &why))
		goto bad;
	l->s = xreallocarray(l->s, l->count + 1, sizeof(*l->s));
	l->s[l->count++] = e;
	return true;
bad:
	{
		struct mp_buf b = MP_BUF_INIT;

		mp_printable(&b, s, n, 64);
		snprintf(err, errlen, "\"%s\" is not a domain, @domain or address: %s",
		    mp_buf_str(&b), why);
		mp_buf_free(&b);
	}
	return false;
}

struct mp_domlist *
mp_domlist_parse(const char *spec, char *err, size_t errlen)
{
	struct mp_domlist *l = xcalloc(1, sizeof(*l));

	if (!each_entry(spec, add_dom, l, err, errlen))
		mp_domlist_free(&l);
	return l;
}

void
mp_domlist_free(struct mp_domlist **lp)
{
	struct mp_domlist *l = *lp;

	if (l == NULL)
		return;
	free(l->s);
	free(l);
	*lp = NULL;
}

bool
mp_domlist_match_address(const struct mp_domlist *l, const char *addr)
{
	const char *d, *at, *why;
	char norm[MP_DOMAIN_MAX];
	size_t llen;

	if (l == NULL || l->count == 0 || addr == NULL)
		return false;
	at = strrchr(addr, '@');
	d = at ? at + 1 : addr;
	llen = at ? (size_t)(at - addr) : 0;
	if (*d == '\0' || !mp_domain_normalize(d, strlen(d), norm, &why))
		return false;
	for (size_t i = 0; i < l->count; i++) {
		const struct sender *e = &l->s[i];

		if (e->local[0] != '\0' &&
		    (llen != strlen(e->local) || mp_strncasecmp(addr, e->local, llen) != 0))
			continue;
		if (e->exact ? strcmp(norm, e->dom) == 0 : mp_domain_is_sub_or_same(norm, e->dom))
			return true;
	}
	return false;
}

size_t
mp_domlist_count(const struct mp_domlist *l)
{
	return l ? l->count : 0;
}
