#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "netaddr.h"
#include "skip.h"
#include "util.h"

struct mp_netlist {
	size_t count;
	struct mp_netprefix *net;
};

/* One skip_mail_from entry: "domain" (itself and its subdomains),
 * "@domain" (that domain only) or "local@domain" (one address). */

struct mp_domlist {
	size_t count;
	struct mp_sender_pattern *s;
};

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

/* Entries are quoted back escaped: the list comes from a file. */
static bool
bad_entry(const char *s, size_t n, const char *what, const char *why,
    char *err, size_t errlen)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, s, n, MP_SHOW_SETTING);
	snprintf(err, errlen, "\"%s\" is not %s: %s", mp_buf_str(&b), what, why);
	mp_buf_free(&b);
	return false;
}

static bool
add_net(void *arg, const char *s, size_t n, char *err, size_t errlen)
{
	struct mp_netlist *l = arg;
	struct mp_netprefix net;
	char why[128];

	if (l->count >= MP_SKIP_MAX_ENTRIES) {
		snprintf(err, errlen, "more than %d networks", MP_SKIP_MAX_ENTRIES);
		return false;
	}
	if (!mp_netprefix_parse(s, n, &net, why, sizeof(why)))
		return bad_entry(s, n, "an address or a network", why, err, errlen);
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
	struct mp_netaddr a;

	if (l == NULL || ip == NULL || !mp_netaddr_parse(ip, strlen(ip), &a))
		return false;
	for (size_t i = 0; i < l->count; i++)
		if (mp_netprefix_match(&l->net[i], &a))
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
	struct mp_sender_pattern e;
	const char *why;
	bool bad_domain;

	if (l->count >= MP_SKIP_MAX_ENTRIES) {
		snprintf(err, errlen, "more than %d senders", MP_SKIP_MAX_ENTRIES);
		return false;
	}
	if (!mp_sender_pattern_parse(s, n, &e, &bad_domain, &why))
		return bad_entry(s, n, "a domain, @domain or address", why, err, errlen);
	l->s = xreallocarray(l->s, l->count + 1, sizeof(*l->s));
	l->s[l->count++] = e;
	return true;
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
		const struct mp_sender_pattern *e = &l->s[i];

		if (e->local[0] != '\0' &&
		    (llen != strlen(e->local) || mp_strncasecmp(addr, e->local, llen) != 0))
			continue;
		if (e->exact ? strcmp(norm, e->domain) == 0 : mp_domain_is_sub_or_same(norm, e->domain))
			return true;
	}
	return false;
}

size_t
mp_domlist_count(const struct mp_domlist *l)
{
	return l ? l->count : 0;
}
