/*
 * skip: the lists that exempt a message from evaluation: client networks
 * (IPv4 and IPv6 CIDR) and MAIL FROM domains. Both are parsed once per
 * configuration generation and are read-only afterwards, so any number
 * of milter threads may match against them at once.
 */
#ifndef MP_SKIP_H
#define MP_SKIP_H

#include <stdbool.h>
#include <stddef.h>

#define MP_SKIP_MAX_ENTRIES 1024    /* more list entries than this: an error */

struct mp_netlist;

/*
 * Parses a list of networks separated by spaces or commas: "192.0.2.0/24",
 * "2001:db8::/32", or a bare address (a host), each read by
 * mp_netprefix_parse() (netaddr.h), which refuses host bits set past the
 * prefix as [milter] skip_networks does when the file is loaded. An empty
 * list is valid and matches nothing. NULL + err on error.
 */
struct mp_netlist *mp_netlist_parse(const char *spec, char *err, size_t errlen);
void mp_netlist_free(struct mp_netlist **lp);
/* True when ip (text, IPv4 or IPv6; an IPv4-mapped IPv6 address counts as
 * IPv4) is inside one of the networks. An address that does not parse
 * matches nothing. */
bool mp_netlist_match(const struct mp_netlist *l, const char *ip);
size_t mp_netlist_count(const struct mp_netlist *l);

struct mp_domlist;

/*
 * Parses a list of senders separated by spaces or commas: "domain"
 * matches the domain and its subdomains (label by label), "@domain" any
 * user of exactly that domain, "local@domain" one address (the local
 * part compared without regard to ASCII case). NULL + err when an entry's
 * domain is not a valid domain name.
 */
struct mp_domlist *mp_domlist_parse(const char *spec, char *err, size_t errlen);
void mp_domlist_free(struct mp_domlist **lp);
/* True when addr ("local@domain", or a bare domain) is on the list. The
 * null sender and an address without a valid domain never match. */
bool mp_domlist_match_address(const struct mp_domlist *l, const char *addr);
size_t mp_domlist_count(const struct mp_domlist *l);

#endif
