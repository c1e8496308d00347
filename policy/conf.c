/*
 * conf: mailposture.conf over inih, checked against one typed table.
 *
 * The table below is the only place an option is defined: the loader,
 * the getters, the defaults, the commented sample (conf/mailposture.conf)
 * and the manual page are all derived from it.
 *
 * Rules of the file, beyond what inih does by itself (the Debian build
 * of inih 55: multi-line values on, inline comments on with ';' only,
 * lines of at most 200 bytes read into a stack buffer):
 * - A line longer than inih's buffer is an error. inih would otherwise
 *   cut it silently and parse the rest as a line of its own.
 * - A NUL byte is an error.
 * - An option set twice in the file is an error, not "last one wins":
 *   two values for one option in a security policy are a mistake to
 *   show, not to guess at. mp_conf_set() (command-line overrides) does
 *   replace the value.
 * - An indented line continues the previous option (inih's multi-line
 *   values); that is allowed only for the list options, whose parts are
 *   joined with a space. Elsewhere it is an error, because an indented
 *   "name = value" would otherwise become part of the previous value.
 * - Section and option names are case-sensitive; enum and bool words
 *   are not.
 * - '#' starts a comment only at the start of a line; a " #" inside a
 *   value is refused rather than kept as part of it.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "conf.h"
#include "domain.h"
#include "log.h"
#include "util.h"

#define VALUE_MAX 1024     /* longest value, list continuations included */
#define WHY_MAX 512

#define F_LIST 0x01        /* indented continuation lines append to it */

typedef bool (*conf_check)(const char *v, char *why, size_t whylen);

struct conf_opt {
	const char *section;
	const char *name;
	enum mp_conf_type type;
	const char *def;        /* default, as text: parsed like the file */
	long min, max;          /* MP_CONF_INT */
	const char *words;      /* MP_CONF_ENUM: "a|b|c" */
	unsigned flags;
	conf_check check;       /* extra format check for strings, or NULL */
	const char *help;
};

static bool check_socket(const char *, char *, size_t);
static bool check_mode(const char *, char *, size_t);
static bool check_account(const char *, char *, size_t);
static bool check_path_or_empty(const char *, char *, size_t);
static bool check_path(const char *, char *, size_t);
static bool check_cidr_list(const char *, char *, size_t);
static bool check_sender_list(const char *, char *, size_t);
static bool check_resolver(const char *, char *, size_t);
static bool check_token_or_empty(const char *, char *, size_t);
static bool check_token_list(const char *, char *, size_t);
static bool check_redis_address(const char *, char *, size_t);
static bool check_key_prefix(const char *, char *, size_t);
static bool check_host(const char *, char *, size_t);
static bool check_domain_or_empty(const char *, char *, size_t);
static bool check_ip_or_empty(const char *, char *, size_t);
static bool check_domain_list(const char *, char *, size_t);
static bool check_grade_or_empty(const char *, char *, size_t);

#define STR(s, n, d, chk, fl, h) { s, n, MP_CONF_STRING, d, 0, 0, NULL, fl, chk, h }
#define INT(s, n, d, lo, hi, h) { s, n, MP_CONF_INT, d, lo, hi, NULL, 0, NULL, h }
#define BOOL(s, n, d, h) { s, n, MP_CONF_BOOL, d, 0, 0, NULL, 0, NULL, h }
#define ENUM(s, n, d, w, h) { s, n, MP_CONF_ENUM, d, 0, 0, w, 0, NULL, h }
#define SECRET(s, n, h) { s, n, MP_CONF_SECRET_FILE, "", 0, 0, NULL, 0, NULL, h }

static const struct conf_opt options[] = {
	STR("milter", "socket", "unix:/run/mailposture/milter.sock", check_socket, 0,
	    "Where the milter listens for the MTA: unix:/PATH (local:/PATH is "
	    "the same), inet:PORT@HOST or inet6:PORT@HOST. Without @HOST an "
	    "inet socket listens on every address."),
	STR("milter", "socket_mode", "0660", check_mode, 0,
	    "Permissions of a unix socket, in octal (0000..0777). The MTA's "
	    "user or group must be able to write to it."),
	STR("milter", "user", "mailposture", check_account, 0,
	    "User the milter runs as once its socket is bound. Empty: stay "
	    "the user it was started as."),
	STR("milter", "group", "", check_account, 0,
	    "Group the milter runs as. Empty: the primary group of user."),
	BOOL("milter", "allow_root", "no",
	    "Allow the milter to keep running as root. Without it, a milter "
	    "that would run as root refuses to start."),
	STR("milter", "pidfile", "/run/mailposture/milter.pid", check_path_or_empty, 0,
	    "File the process id is written to, an absolute path. Empty: none."),
	ENUM("milter", "dmarc_reject", "none", "reject|quarantine|none",
	    "Action for a message that fails DMARC when the policy is p=reject: "
	    "reject it (550), quarantine it (held in the MTA's queue), or none "
	    "(only the Authentication-Results header is added)."),
	ENUM("milter", "dmarc_quarantine", "none", "quarantine|none",
	    "Action for a message that fails DMARC when the policy is "
	    "p=quarantine."),
	ENUM("milter", "spf_fail", "none", "reject|none",
	    "Action for a message whose MAIL FROM gets an SPF fail: reject it "
	    "(550), or none and let DMARC decide."),
	ENUM("milter", "temperror", "accept", "accept|tempfail",
	    "Action when SPF or DMARC cannot be evaluated because of a "
	    "temporary DNS error: accept the message, or tempfail it (4xx, the "
	    "sender retries later)."),
	ENUM("milter", "multiple_from", "strictest", "reject|strictest",
	    "A message with several From addresses: reject it, or evaluate "
	    "every From domain and apply the strictest result. A From header "
	    "that cannot be parsed is treated the same way: reject it, or "
	    "assume the strictest outcome, a DMARC failure under p=reject "
	    "(then dmarc_reject decides)."),
	ENUM("milter", "no_from", "accept", "reject|accept",
	    "A message without any From header: reject it, or accept it "
	    "without a DMARC evaluation."),
	BOOL("milter", "dry_run", "no",
	    "Evaluate, log and add Authentication-Results, but never reject, "
	    "quarantine or tempfail a message."),
	BOOL("milter", "received_spf", "no",
	    "Also add a Received-SPF header (RFC 7208 section 9.1)."),
	BOOL("milter", "skip_authenticated", "yes",
	    "Do not evaluate messages from clients that logged in with SMTP "
	    "AUTH."),
	STR("milter", "skip_networks", "127.0.0.0/8 ::1", check_cidr_list, F_LIST,
	    "Client addresses whose messages are not evaluated: addresses or "
	    "ADDRESS/PREFIX networks, IPv4 or IPv6, separated by spaces or "
	    "commas. Indented lines continue the list."),
	STR("milter", "skip_mail_from", "", check_sender_list, F_LIST,
	    "Envelope senders whose messages are not evaluated: user@domain, "
	    "@domain (any user of that domain) or domain (that domain and its "
	    "subdomains), separated by spaces or commas. Indented lines "
	    "continue the list. Anybody can claim an envelope sender, so the "
	    "rule holds only when SPF passes for its domain; otherwise the "
	    "message is evaluated like any other."),
	ENUM("milter", "on_error", "accept", "accept|tempfail",
	    "Action when the milter cannot evaluate a message for a reason of "
	    "its own (an internal error): accept the message, or tempfail "
	    "it."),
	INT("milter", "max_header_bytes", "65536", 1024, 1048576,
	    "Most bytes of Authentication-Results headers the milter keeps "
	    "from one message. Past it, further Authentication-Results "
	    "headers are not read for DKIM results (which can only make DMARC "
	    "stricter). From headers have a fixed budget of their own: the "
	    "first two are kept whole (a longer one still counts as too long), "
	    "a third cut short, and more are counted, so that padding never "
	    "skips the check."),
	INT("milter", "max_headers", "64", 4, 1000,
	    "Most Authentication-Results headers the milter keeps from one "
	    "message; past it they are handled as for max_header_bytes. From "
	    "headers do not count."),

	STR("dns", "resolver", "", check_resolver, 0,
	    "DNS resolver that every query is sent to: ADDRESS or "
	    "ADDRESS@PORT, IPv4 or IPv6. Empty: the servers of "
	    "/etc/resolv.conf."),
	INT("dns", "timeout", "2000", 100, 30000,
	    "Timeout of one DNS lookup, in milliseconds."),
	STR("dns", "trust_anchor_file", "", check_path_or_empty, 0,
	    "DNSSEC trust anchor file, an absolute path (for example "
	    "/usr/share/dns/root.key). Empty: no DNSSEC validation."),

	STR("policy", "authserv_id", "", check_token_or_empty, 0,
	    "The authserv-id of the Authentication-Results headers the milter "
	    "adds (RFC 8601). Incoming headers with this authserv-id are "
	    "removed. Empty: the host name."),
	STR("policy", "trusted_authserv_ids", "", check_token_list, F_LIST,
	    "authserv-ids whose Authentication-Results headers are trusted for "
	    "DKIM results (for example a DKIM verifier before this milter), "
	    "separated by spaces or commas. Headers with any other authserv-id "
	    "are ignored. A sender can write such a header too: list an id only "
	    "if every way into this host passes the host that writes it, and "
	    "that host deletes incoming headers with its id (RFC 8601 section "
	    "5)."),
	STR("policy", "psl_file", MP_PSL_FILE, check_path, 0,
	    "The Public Suffix List, an absolute path. It gives the "
	    "organizational domain of a name (RFC 7489 section 3.2); its "
	    "private section counts too."),
	INT("policy", "eval_timeout", "10", 1, 120,
	    "Time for evaluating one message, all its DNS lookups together, in "
	    "seconds. Keep it below the MTA's milter timeouts."),
	BOOL("policy", "posture", "yes",
	    "Score the published records (SPF, DMARC) of the sender's domain "
	    "and store the score with the verdict."),
	INT("policy", "posture_ttl", "3600", 0, 604800,
	    "How long a domain's posture score is reused before it is "
	    "evaluated again, in seconds. 0: evaluated for every message."),

	STR("redis", "address", "", check_redis_address, 0,
	    "Redis server: HOST:PORT, [IPV6-ADDRESS]:PORT, or the absolute path "
	    "of a unix socket. Empty: Redis is not used and verdicts are only "
	    "logged."),
	SECRET("redis", "password_file",
	    "File that holds the Redis password (AUTH), an absolute path. It "
	    "must be a regular file with no permissions for group or others "
	    "(chmod 600). Empty: no password."),
	INT("redis", "db", "0", 0, 15,
	    "Redis database number."),
	STR("redis", "key_prefix", "mp:", check_key_prefix, 0,
	    "Prefix of every key, up to 32 characters without spaces or braces."),
	INT("redis", "timeout", "500", 10, 10000,
	    "Timeout of connecting and of each command, in milliseconds."),
	INT("redis", "ttl_message", "604800", 3600, 31536000,
	    "Lifetime of a message verdict, in seconds (604800: 7 days)."),
	INT("redis", "ttl_domain", "7776000", 86400, 63072000,
	    "Lifetime of a domain's counters, renewed on each message, in "
	    "seconds (7776000: 90 days)."),
	INT("redis", "ttl_day", "3024000", 86400, 63072000,
	    "Lifetime of a domain's daily counters, in seconds (3024000: 35 "
	    "days)."),
	INT("redis", "queue_size", "10000", 1, 1000000,
	    "Most verdicts waiting to be written to Redis, in messages. When "
	    "the queue is full new verdicts are dropped and counted; mail "
	    "still flows."),

	STR("audit", "host", "127.0.0.1", check_host, 0,
	    "SMTP server that mailposture-audit probes: a host name or an "
	    "address."),
	INT("audit", "port", "25", 1, 65535,
	    "TCP port of that server."),
	STR("audit", "domain", "", check_domain_or_empty, 0,
	    "Mail domain whose records (SPF, DMARC, MTA-STS, TLS-RPT) are "
	    "checked. Empty: the domain of the host's name."),
	STR("audit", "public_ip", "", check_ip_or_empty, 0,
	    "Public address of the mail server, for the PTR and DNSBL checks. "
	    "Empty: the address the host name resolves to."),
	STR("audit", "source", "", check_ip_or_empty, 0,
	    "Local address to probe from. The open-relay test needs one the "
	    "server does not trust (not in Postfix's mynetworks). Empty: "
	    "chosen by the system."),
	STR("audit", "dnsbl_zones", "zen.spamhaus.org bl.spamcop.net b.barracudacentral.org",
	    check_domain_list, F_LIST,
	    "DNS blocklists the public address is looked up in, separated by "
	    "spaces or commas. Indented lines continue the list."),
	STR("audit", "fail_under", "", check_grade_or_empty, 0,
	    "Exit with status 1 when the grade is below this one (A+, A, A-, "
	    "B+, B, B-, C+, C, C-, D+, D, D- or F). Empty: the exit status does "
	    "not depend on the grade."),
	INT("audit", "timeout", "5000", 100, 60000,
	    "Timeout of each network step of the probe, in milliseconds."),

	ENUM("log", "facility", "mail",
	    "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7",
	    "syslog facility of the milter."),
	ENUM("log", "level", "info", "err|warning|notice|info|debug",
	    "Least important messages that are logged."),
};

#define NOPTS MP_ARRAY_SIZE(options)

static const char *const sections[] = { "milter", "dns", "policy", "redis", "audit", "log" };

struct conf_val {
	char *s;        /* MP_CONF_STRING, MP_CONF_ENUM, MP_CONF_SECRET_FILE */
	long n;         /* MP_CONF_INT */
	bool b;         /* MP_CONF_BOOL */
};

struct mp_conf {
	unsigned refs;  /* __atomic: worker threads drop theirs concurrently */
	struct conf_val v[NOPTS];
};

/* ---- format checks ---------------------------------------------------- */

static bool
whyf(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
whyf(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return false;
}

/* Text from the file, made safe to quote back in an error message. */
static const char *
quote(struct mp_buf *b, const char *v)
{
	mp_buf_reset(b);
	mp_printable(b, v, strlen(v), 64);
	return mp_buf_str(b);
}

static bool
is_ip(const char *s, int *family_r)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, s, addr) == 1) {
		if (family_r != NULL)
			*family_r = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		if (family_r != NULL)
			*family_r = AF_INET6;
		return true;
	}
	return false;
}

static bool
is_hostname(const char *s)
{
	char norm[MP_DOMAIN_MAX];

	/* No IDN here: a host name in a config file is written in ASCII. */
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return false;
	return mp_domain_normalize_ex(s, strlen(s), norm, MP_DOMAIN_ALLOW_SINGLE, NULL);
}

/* A decimal port, 1..65535, from s[0..len). */
static bool
port_ok(const char *s, size_t len)
{
	unsigned long port = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

static bool
has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == ' ' || *s == '\t')
			return true;
	return false;
}

static bool
unix_path_ok(const char *path, char *why, size_t whylen)
{
	struct sockaddr_un sa;

	if (path[0] != '/')
		return whyf(why, whylen, "a unix socket must be an absolute path");
	if (strlen(path) >= sizeof(sa.sun_path))
		return whyf(why, whylen, "unix socket path longer than %zu bytes",
		    sizeof(sa.sun_path) - 1);
	if (has_space(path))
		return whyf(why, whylen, "space in a unix socket path");
	return true;
}

static bool
check_socket(const char *v, char *why, size_t whylen)
{
	const char *rest, *at;
	bool six;

	if (strncmp(v, "unix:", 5) == 0)
		return unix_path_ok(v + 5, why, whylen);
	if (strncmp(v, "local:", 6) == 0)
		return unix_path_ok(v + 6, why, whylen);
	if (strncmp(v, "inet:", 5) == 0) {
		rest = v + 5;
		six = false;
	} else if (strncmp(v, "inet6:", 6) == 0) {
		rest = v + 6;
		six = true;
	} else
		return whyf(why, whylen,
		    "expected unix:/PATH, inet:PORT@HOST or inet6:PORT@HOST");
	at = strchr(rest, '@');
	if (!port_ok(rest, at != NULL ? (size_t)(at - rest) : strlen(rest)))
		return whyf(why, whylen, "bad port (1..65535) in the socket");
	if (at != NULL) {
		const char *host = at + 1;
		char tmp[256];
		int family;

		/* inet6 addresses may come bracketed, as in [2001:db8::1]. */
		if (six && host[0] == '[') {
			size_t hl = strlen(host);

			if (hl < 3 || hl - 2 >= sizeof(tmp) || host[hl - 1] != ']')
				return whyf(why, whylen, "bad bracketed address in the socket");
			memcpy(tmp, host + 1, hl - 2);
			tmp[hl - 2] = '\0';
			host = tmp;
		}
		if (is_ip(host, &family)) {
			if (family != (six ? AF_INET6 : AF_INET))
				return whyf(why, whylen, "%s socket with an %s address",
				    six ? "inet6" : "inet", six ? "IPv4" : "IPv6");
		} else if (!is_hostname(host))
			return whyf(why, whylen, "bad host in the socket");
	}
	return true;
}

static bool
check_mode(const char *v, char *why, size_t whylen)
{
	size_t len = strlen(v);
	unsigned long mode = 0;

	if (len == 0 || len > 4)
		return whyf(why, whylen, "expected an octal mode such as 0660");
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '7')
			return whyf(why, whylen, "expected an octal mode such as 0660");
		mode = mode * 8 + (unsigned long)(v[i] - '0');
	}
	if (mode > 0777)
		return whyf(why, whylen, "mode %04lo has setuid, setgid or sticky bits (0000..0777)",
		    mode);
	return true;
}

/* A user or group name as useradd(8) takes it, or empty. */
static bool
check_account(const char *v, char *why, size_t whylen)
{
	size_t len = strlen(v);

	if (len == 0)
		return true;
	if (len > 32)
		return whyf(why, whylen, "name longer than 32 characters");
	if (v[0] == '-')
		return whyf(why, whylen, "name starts with '-'");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return whyf(why, whylen, "character not allowed in a user or group name");
	}
	return true;
}

/*
 * Daemons chdir to /, so a relative path would mean something else at
 * run time than when the file was written.
 */
static bool
check_path(const char *v, char *why, size_t whylen)
{
	if (v[0] != '/')
		return whyf(why, whylen, "expected an absolute path");
	return true;
}

static bool
check_path_or_empty(const char *v, char *why, size_t whylen)
{
	return v[0] == '\0' || check_path(v, why, whylen);
}

/*
 * Calls fn for each item of a list separated by spaces, tabs or commas.
 * Items are copied to a bounded buffer: an item too long for it is an
 * error in every list we have.
 */
static bool
each_item(const char *v, char *why, size_t whylen,
    bool (*fn)(const char *item, char *why, size_t whylen))
{
	char item[512];
	const char *p = v;

	while (*p != '\0') {
		size_t n = strcspn(p, " \t,");

		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof(item))
			return whyf(why, whylen, "list item longer than %zu bytes",
			    sizeof(item) - 1);
		memcpy(item, p, n);
		item[n] = '\0';
		if (!fn(item, why, whylen))
			return false;
		p += n;
	}
	return true;
}

static bool
cidr_ok(const char *item, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(item, '/');
	size_t alen = slash != NULL ? (size_t)(slash - item) : strlen(item);
	struct mp_buf q = MP_BUF_INIT;
	int family;
	bool ok = true;

	if (alen >= sizeof(addr))
		ok = false;
	else {
		memcpy(addr, item, alen);
		addr[alen] = '\0';
		ok = is_ip(addr, &family);
	}
	if (ok && slash != NULL) {
		char *end;
		long bits;

		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		ok = slash[1] >= '0' && slash[1] <= '9' && *end == '\0' && errno == 0 &&
		    bits >= 0 && bits <= (family == AF_INET ? 32 : 128);
	}
	if (!ok)
		whyf(why, whylen, "'%s' is not an ADDRESS or ADDRESS/PREFIX", quote(&q, item));
	mp_buf_free(&q);
	return ok;
}

static bool
check_cidr_list(const char *v, char *why, size_t whylen)
{
	return each_item(v, why, whylen, cidr_ok);
}

static bool
domain_item_ok(const char *item, char *why, size_t whylen)
{
	char norm[MP_DOMAIN_MAX];
	const char *reason = NULL;
	struct mp_buf q = MP_BUF_INIT;

	if (mp_domain_normalize(item, strlen(item), norm, &reason))
		return true;
	whyf(why, whylen, "'%s' is not a domain name: %s", quote(&q, item), reason);
	mp_buf_free(&q);
	return false;
}

static bool
sender_ok(const char *item, char *why, size_t whylen)
{
	const char *at = strrchr(item, '@');
	struct mp_buf q = MP_BUF_INIT;

	if (at == NULL)
		return domain_item_ok(item, why, whylen);
	if (at - item > 64) {
		whyf(why, whylen, "local part of '%s' longer than 64 characters", quote(&q, item));
		mp_buf_free(&q);
		return false;
	}
	for (const char *p = item; p < at; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '@') {
			whyf(why, whylen, "'%s' is not user@domain, @domain or domain",
			    quote(&q, item));
			mp_buf_free(&q);
			return false;
		}
	}
	return domain_item_ok(at + 1, why, whylen);
}

static bool
check_sender_list(const char *v, char *why, size_t whylen)
{
	return each_item(v, why, whylen, sender_ok);
}

static bool
check_resolver(const char *v, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *at;
	size_t alen;

	if (v[0] == '\0')
		return true;
	at = strrchr(v, '@');
	alen = at != NULL ? (size_t)(at - v) : strlen(v);
	if (alen >= sizeof(addr))
		return whyf(why, whylen, "expected ADDRESS or ADDRESS@PORT");
	memcpy(addr, v, alen);
	addr[alen] = '\0';
	if (!is_ip(addr, NULL))
		return whyf(why, whylen, "expected ADDRESS or ADDRESS@PORT, with an IP address");
	if (at != NULL && !port_ok(at + 1, strlen(at + 1)))
		return whyf(why, whylen, "bad port (1..65535) after '@'");
	return true;
}

/* An RFC 2045 token, which is what an authserv-id is in practice. */
static bool
token_ok(const char *item, char *why, size_t whylen)
{
	if (strlen(item) > 255)
		return whyf(why, whylen, "authserv-id longer than 255 characters");
	for (const char *p = item; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL)
			return whyf(why, whylen, "character '%c' not allowed in an authserv-id",
			    c > 0x20 && c < 0x7f ? c : '?');
	}
	return true;
}

static bool
check_token_or_empty(const char *v, char *why, size_t whylen)
{
	return v[0] == '\0' || token_ok(v, why, whylen);
}

static bool
check_token_list(const char *v, char *why, size_t whylen)
{
	return each_item(v, why, whylen, token_ok);
}

static bool
check_redis_address(const char *v, char *why, size_t whylen)
{
	char host[256];
	const char *colon;
	size_t hlen;

	if (v[0] == '\0')
		return true;
	if (v[0] == '/')
		return unix_path_ok(v, why, whylen);
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
			return whyf(why, whylen, "expected [IPV6-ADDRESS]:PORT");
		hlen = (size_t)(close - v - 1);
		if (hlen >= sizeof(host))
			return whyf(why, whylen, "expected [IPV6-ADDRESS]:PORT");
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		{
			int family;

			if (!is_ip(host, &family) || family != AF_INET6)
				return whyf(why, whylen, "expected [IPV6-ADDRESS]:PORT");
		}
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return whyf(why, whylen,
			    "expected HOST:PORT, [IPV6-ADDRESS]:PORT or /PATH");
		hlen = (size_t)(colon - v);
		if (hlen == 0 || hlen >= sizeof(host))
			return whyf(why, whylen, "expected HOST:PORT");
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		if (strchr(host, ':') != NULL)
			return whyf(why, whylen, "write an IPv6 address as [ADDRESS]:PORT");
		if (!is_ip(host, NULL) && !is_hostname(host))
			return whyf(why, whylen, "bad host before ':PORT'");
	}
	if (!port_ok(colon + 1, strlen(colon + 1)))
		return whyf(why, whylen, "bad port (1..65535) after ':'");
	return true;
}

/* Braces would break the {org} hash tag that every key carries. */
static bool
check_key_prefix(const char *v, char *why, size_t whylen)
{
	if (strlen(v) > 32)
		return whyf(why, whylen, "key prefix longer than 32 characters");
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '{' || c == '}')
			return whyf(why, whylen, "key prefix with a space, a brace or a non-ASCII byte");
	}
	return true;
}

static bool
check_host(const char *v, char *why, size_t whylen)
{
	if (is_ip(v, NULL) || is_hostname(v))
		return true;
	return whyf(why, whylen, "expected a host name or an IP address");
}

static bool
check_domain_or_empty(const char *v, char *why, size_t whylen)
{
	return v[0] == '\0' || domain_item_ok(v, why, whylen);
}

static bool
check_ip_or_empty(const char *v, char *why, size_t whylen)
{
	if (v[0] == '\0' || is_ip(v, NULL))
		return true;
	return whyf(why, whylen, "expected an IPv4 or IPv6 address");
}

static bool
check_domain_list(const char *v, char *why, size_t whylen)
{
	return each_item(v, why, whylen, domain_item_ok);
}

static bool
check_grade_or_empty(const char *v, char *why, size_t whylen)
{
	static const char *const grades[] = {
		"A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F"
	};

	if (v[0] == '\0')
		return true;
	for (size_t i = 0; i < MP_ARRAY_SIZE(grades); i++)
		if (strcmp(v, grades[i]) == 0)
			return true;
	return whyf(why, whylen, "expected a grade: A+, A, A-, B+, B, B-, C+, C, C-, D+, D, D- or F");
}

/*
 * The secret file is checked when the configuration is read, so that a
 * password readable by every local user stops the daemon at start-up
 * rather than being used.
 */
static bool
check_secret_file(const char *v, char *why, size_t whylen)
{
	struct stat st;

	if (v[0] == '\0')
		return true;
	if (v[0] != '/')
		return whyf(why, whylen, "expected an absolute path");
	if (stat(v, &st) == -1)
		return whyf(why, whylen, "%s: %s", v, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return whyf(why, whylen, "%s: not a regular file", v);
	if ((st.st_mode & 077) != 0)
		return whyf(why, whylen,
		    "%s: mode %04o gives access to group or others; it must be private (chmod 600)",
		    v, (unsigned)(st.st_mode & 07777));
	return true;
}

/* ---- values ----------------------------------------------------------- */

static const struct conf_opt *
find_opt(const char *section, const char *name, size_t *idx_r)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(options[i].section, section) == 0 &&
		    strcmp(options[i].name, name) == 0) {
			if (idx_r != NULL)
				*idx_r = i;
			return &options[i];
		}
	return NULL;
}

static bool
known_section(const char *section)
{
	for (size_t i = 0; i < MP_ARRAY_SIZE(sections); i++)
		if (strcmp(sections[i], section) == 0)
			return true;
	return false;
}

static void
words_list(struct mp_buf *b, const char *words)
{
	for (const char *p = words; *p != '\0'; p++) {
		if (*p == '|')
			mp_buf_puts(b, ", ");
		else
			mp_buf_putc(b, *p);
	}
}

/* Returns the enum word equal to v, as a new string, or NULL. */
static char *
enum_word(const char *words, const char *v)
{
	const char *p = words;

	for (;;) {
		size_t n = strcspn(p, "|");

		if (n > 0 && strlen(v) == n && mp_strncasecmp(p, v, n) == 0)
			return xstrndup(p, n);
		if (p[n] == '\0')
			return NULL;
		p += n + 1;
	}
}

static bool
parse_bool(const char *v, bool *b_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < MP_ARRAY_SIZE(yes); i++) {
		if (mp_strcasecmp(v, yes[i]) == 0) {
			*b_r = true;
			return true;
		}
		if (mp_strcasecmp(v, no[i]) == 0) {
			*b_r = false;
			return true;
		}
	}
	return false;
}

static bool
plain_text(const char *v, char *why, size_t whylen)
{
	if (strlen(v) > VALUE_MAX)
		return whyf(why, whylen, "value longer than %d bytes", VALUE_MAX);
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return whyf(why, whylen, "control character in the value");
		if (c == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t'))
			return whyf(why, whylen,
			    "'#' in the value: comments after a value start with ';'");
	}
	return true;
}

/*
 * Parses and checks v for option i, and stores it in c. With append, v
 * continues a list option's current value. false + why on error; c is
 * unchanged then.
 */
static bool
set_value(struct mp_conf *c, size_t i, const char *v, bool append,
    char *why, size_t whylen)
{
	const struct conf_opt *o = &options[i];
	struct conf_val *val = &c->v[i];
	struct mp_buf q = MP_BUF_INIT;
	char *joined = NULL;
	bool ok = false;

	if (append) {
		joined = val->s[0] != '\0' ? xasprintf("%s %s", val->s, v) : xstrdup(v);
		v = joined;
	}
	if (!plain_text(v, why, whylen))
		goto out;
	switch (o->type) {
	case MP_CONF_STRING:
	case MP_CONF_SECRET_FILE:
		if (o->check != NULL && !o->check(v, why, whylen))
			goto out;
		if (o->type == MP_CONF_SECRET_FILE && !check_secret_file(v, why, whylen))
			goto out;
		free(val->s);
		val->s = xstrdup(v);
		break;
	case MP_CONF_INT: {
		char *end;
		long n;

		errno = 0;
		n = strtol(v, &end, 10);
		if (v[0] == '\0' || end == v || *end != '\0' || errno == ERANGE ||
		    has_space(v)) {
			whyf(why, whylen, "'%s' is not an integer", quote(&q, v));
			goto out;
		}
		if (n < o->min || n > o->max) {
			whyf(why, whylen, "%ld is out of bounds (%ld..%ld)", n, o->min, o->max);
			goto out;
		}
		val->n = n;
		break;
	}
	case MP_CONF_BOOL:
		if (!parse_bool(v, &val->b)) {
			whyf(why, whylen, "'%s' is not yes/no, true/false, on/off or 1/0",
			    quote(&q, v));
			goto out;
		}
		break;
	case MP_CONF_ENUM: {
		char *w = enum_word(o->words, v);

		if (w == NULL) {
			struct mp_buf allowed = MP_BUF_INIT;

			words_list(&allowed, o->words);
			whyf(why, whylen, "'%s' is not one of %s", quote(&q, v),
			    mp_buf_str(&allowed));
			mp_buf_free(&allowed);
			goto out;
		}
		free(val->s);
		val->s = w;
		break;
	}
	}
	ok = true;
out:
	mp_buf_free(&q);
	free(joined);
	return ok;
}

struct mp_conf *
mp_conf_new_defaults(void)
{
	struct mp_conf *c = xcalloc(1, sizeof(*c));
	char why[WHY_MAX];

	c->refs = 1;
	for (size_t i = 0; i < NOPTS; i++) {
		if (!set_value(c, i, options[i].def, false, why, sizeof(why))) {
			mp_log(LOG_CRIT, "conf: bad default for [%s] %s: %s",
			    options[i].section, options[i].name, why);
			abort();
		}
	}
	return c;
}

/* ---- loading ---------------------------------------------------------- */

struct conf_parse {
	struct mp_conf *c;
	const char *path;
	FILE *fp;
	int lineno;             /* of the line inih is working on */
	bool indented;          /* that line starts with a space or a tab */
	bool option_seen;       /* an option since the last [section] line */
	int seen[NOPTS];        /* line an option was set on, 0: not set */
	int err_line;           /* first error of ours, 0: none */
	char *err;
	size_t errlen;
};

static void
parse_error(struct conf_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
parse_error(struct conf_parse *p, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;

	if (p->err_line != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	p->err_line = p->lineno;
	snprintf(p->err, p->errlen, "%s:%d: %s", p->path, p->lineno, why);
}

/*
 * inih's reader: one whole line per call, or NULL to stop. Doing the
 * reading ourselves is what lets us refuse an overlong line and a NUL
 * byte, and know which line the handler is called for.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	size_t n = 0, max;
	const char *s;
	int ch;

	if (p->err_line != 0 || num < 3)
		return NULL;
	max = (size_t)num - 1;
	while (n < max) {
		if ((ch = getc(p->fp)) == EOF)
			break;
		if (ch == '\0') {
			p->lineno++;
			parse_error(p, "NUL byte in the line");
			return NULL;
		}
		str[n++] = (char)ch;
		if (ch == '\n')
			break;
	}
	if (n == 0) {
		if (ferror(p->fp)) {
			p->lineno++;
			parse_error(p, "read error: %s", strerror(errno));
		}
		return NULL;
	}
	p->lineno++;
	if (n == max && str[n - 1] != '\n') {
		/* The buffer is full: fine only if the line ends right here. */
		ch = getc(p->fp);
		if (ch != EOF && ch != '\n') {
			parse_error(p, "line longer than %zu characters", max - 1);
			return NULL;
		}
	}
	str[n] = '\0';
	p->indented = str[0] == ' ' || str[0] == '\t';
	s = str + strspn(str, " \t");
	if (*s == '[') {
		const char *close = strchr(s, ']');

		p->option_seen = false;
		/* inih refuses a [ without ], as a syntax error. */
		if (close != NULL) {
			char *section = xstrndup(s + 1, (size_t)(close - s - 1));
			struct mp_buf q = MP_BUF_INIT;
			bool known = known_section(section);

			if (!known)
				parse_error(p, "unknown section [%s]", quote(&q, section));
			free(section);
			mp_buf_free(&q);
			if (!known)
				return NULL;
		}
	}
	return str;
}

/*
 * inih (Debian's 55) strips an inline comment from a name = value line
 * but not from a continuation line: do it here, so that " ;" means the
 * same on every line. Returns value, or its cut copy in buf.
 */
static const char *
strip_comment(char *buf, size_t size, const char *value)
{
	size_t n;

	for (n = 0; value[n] != '\0'; n++)
		if (value[n] == ';' && n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
			break;
	if (value[n] == '\0' || n >= size)
		return value;
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	memcpy(buf, value, n);
	buf[n] = '\0';
	return buf;
}

static int
conf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf_parse *p = user;
	bool cont = p->indented && p->option_seen;
	struct mp_buf q = MP_BUF_INIT;
	char why[WHY_MAX], copy[VALUE_MAX + 1];
	const struct conf_opt *o;
	size_t i;

	p->option_seen = true;
	if (p->err_line != 0)
		return 0;
	if (section[0] == '\0') {
		parse_error(p, "option %s before any [section]", quote(&q, name));
		goto fail;
	}
	if ((o = find_opt(section, name, &i)) == NULL) {
		parse_error(p, "unknown option %s in [%s]", quote(&q, name), section);
		goto fail;
	}
	if (cont) {
		if ((o->flags & F_LIST) == 0) {
			parse_error(p, "indented line continues [%s] %s, which takes one "
			    "value (options must not be indented)", section, name);
			goto fail;
		}
	} else if (p->seen[i] != 0) {
		parse_error(p, "[%s] %s already set on line %d", section, name, p->seen[i]);
		goto fail;
	}
	if (cont)
		value = strip_comment(copy, sizeof(copy), value);
	if (!set_value(p->c, i, value, cont, why, sizeof(why))) {
		parse_error(p, "[%s] %s: %s", section, name, why);
		goto fail;
	}
	if (!cont)
		p->seen[i] = p->lineno;
	return 1;
fail:
	mp_buf_free(&q);
	return 0;
}

struct mp_conf *
mp_conf_load(const char *path, char *err, size_t errlen)
{
	struct conf_parse p;
	struct stat st;
	int rc;

	if (path == NULL)
		path = MP_CONF_DEFAULT_PATH;
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.err = err;
	p.errlen = errlen;
	if ((p.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(p.fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(p.fp);
		return NULL;
	}
	p.c = mp_conf_new_defaults();
	rc = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	fclose(p.fp);
	/* inih reports the first line it refused; ours may come later. */
	if (rc > 0 && (p.err_line == 0 || rc < p.err_line))
		snprintf(err, errlen, "%s:%d: syntax error: expected [section], "
		    "name = value or a comment", path, rc);
	else if (rc < 0 && p.err_line == 0)
		snprintf(err, errlen, "%s: cannot be parsed", path);
	if (rc != 0 || p.err_line != 0) {
		mp_conf_unref(&p.c);
		return NULL;
	}
	return p.c;
}

bool
mp_conf_set(struct mp_conf *c, const char *section, const char *name,
    const char *value, char *err, size_t errlen)
{
	char why[WHY_MAX];
	size_t i;

	/* A shared configuration is read by other threads without locks. */
	if (__atomic_load_n(&c->refs, __ATOMIC_ACQUIRE) != 1) {
		mp_log(LOG_CRIT, "mp_conf_set on a shared configuration");
		abort();
	}
	if (!known_section(section)) {
		snprintf(err, errlen, "unknown section [%s]", section);
		return false;
	}
	if (find_opt(section, name, &i) == NULL) {
		snprintf(err, errlen, "unknown option %s in [%s]", name, section);
		return false;
	}
	if (!set_value(c, i, value, false, why, sizeof(why))) {
		snprintf(err, errlen, "[%s] %s: %s", section, name, why);
		return false;
	}
	return true;
}

struct mp_conf *
mp_conf_ref(struct mp_conf *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void
mp_conf_unref(struct mp_conf **cp)
{
	struct mp_conf *c;

	if (cp == NULL || (c = *cp) == NULL)
		return;
	*cp = NULL;
	/* Release our writes, acquire everyone else's before freeing. */
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < NOPTS; i++)
		free(c->v[i].s);
	free(c);
}

/* ---- getters ---------------------------------------------------------- */

static const struct conf_val *
get(const struct mp_conf *c, const char *section, const char *name,
    enum mp_conf_type t1, enum mp_conf_type t2, enum mp_conf_type t3)
{
	const struct conf_opt *o;
	size_t i;

	if ((o = find_opt(section, name, &i)) == NULL) {
		mp_log(LOG_CRIT, "conf: no option [%s] %s", section, name);
		abort();
	}
	if (o->type != t1 && o->type != t2 && o->type != t3) {
		mp_log(LOG_CRIT, "conf: [%s] %s read with the wrong type", section, name);
		abort();
	}
	return &c->v[i];
}

const char *
mp_conf_str(const struct mp_conf *c, const char *section, const char *name)
{
	return get(c, section, name, MP_CONF_STRING, MP_CONF_ENUM, MP_CONF_SECRET_FILE)->s;
}

long
mp_conf_int(const struct mp_conf *c, const char *section, const char *name)
{
	return get(c, section, name, MP_CONF_INT, MP_CONF_INT, MP_CONF_INT)->n;
}

bool
mp_conf_bool(const struct mp_conf *c, const char *section, const char *name)
{
	return get(c, section, name, MP_CONF_BOOL, MP_CONF_BOOL, MP_CONF_BOOL)->b;
}

/* ---- description ------------------------------------------------------ */

/* Writes text as lines of at most width columns, each after prefix. */
static void
wrap(FILE *out, const char *prefix, const char *text, size_t width)
{
	const char *p = text;
	size_t col = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (col > 0 && col + 1 + n > width) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0) {
			fputs(prefix, out);
			col = strlen(prefix);
		} else {
			fputc(' ', out);
			col++;
		}
		fwrite(p, 1, n, out);
		col += n;
		p += n;
		p += strspn(p, " ");
	}
	if (col > 0)
		fputc('\n', out);
}

static void
type_text(struct mp_buf *b, const struct conf_opt *o)
{
	switch (o->type) {
	case MP_CONF_STRING:
		mp_buf_puts(b, (o->flags & F_LIST) ? "list" : "string");
		break;
	case MP_CONF_INT:
		mp_buf_printf(b, "integer, %ld..%ld", o->min, o->max);
		break;
	case MP_CONF_BOOL:
		mp_buf_puts(b, "yes or no");
		break;
	case MP_CONF_ENUM:
		mp_buf_puts(b, "one of ");
		words_list(b, o->words);
		break;
	case MP_CONF_SECRET_FILE:
		mp_buf_puts(b, "private file");
		break;
	}
}

static void
describe_ini(FILE *out)
{
	const char *cur = NULL;

	fputs("# mailposture.conf: configuration of mailposture-milter,\n"
	    "# mailposture-check, mailposture-audit and mailposture-report.\n"
	    "#\n"
	    "# Generated from the option table in policy/conf.c; do not edit by\n"
	    "# hand (tests/unit/test_conf checks that the two agree).\n"
	    "#\n"
	    "# Every option is shown commented out with its default value.\n"
	    "# Lines that start with '#' or ';' are comments; after a value, a\n"
	    "# comment starts with \" ;\". Options are not indented: an indented\n"
	    "# line continues a list option. Setting an option twice, an unknown\n"
	    "# section or option, or a value of the wrong type or out of bounds\n"
	    "# is an error, reported as FILE:LINE: reason. Lines are at most 198\n"
	    "# characters long.\n", out);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct conf_opt *o = &options[i];
		struct mp_buf t = MP_BUF_INIT;

		if (cur == NULL || strcmp(cur, o->section) != 0) {
			fprintf(out, "\n[%s]\n", o->section);
			cur = o->section;
		}
		fputc('\n', out);
		wrap(out, "# ", o->help, 72);
		mp_buf_puts(&t, "Type: ");
		type_text(&t, o);
		mp_buf_putc(&t, '.');
		wrap(out, "# ", mp_buf_str(&t), 72);
		mp_buf_free(&t);
		if (o->def[0] != '\0')
			fprintf(out, "#%s = %s\n", o->name, o->def);
		else
			fprintf(out, "#%s =\n", o->name);
	}
}

/* roff text: a backslash is \e, and a line must not start a request. */
static void
roff_text(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static void
describe_man(FILE *out)
{
	const char *cur = NULL;

	fputs(".\\\" Generated from the option table in policy/conf.c; do not edit.\n"
	    ".TH MAILPOSTURE.CONF 5 \"\" \"mailposture " PACKAGE_VERSION "\" \"File Formats\"\n"
	    ".SH NAME\n"
	    "mailposture.conf \\- configuration of mailposture\n"
	    ".SH DESCRIPTION\n"
	    "An INI file read by mailposture\\-milter, mailposture\\-check,\n"
	    "mailposture\\-audit and mailposture\\-report, by default\n"
	    ".IR " MP_CONF_DEFAULT_PATH " .\n"
	    "Lines that start with\n"
	    ".B #\n"
	    "or\n"
	    ".B ;\n"
	    "are comments; after a value, a comment starts with a space and\n"
	    ".BR ; .\n"
	    "An indented line continues a list option.\n"
	    "An option set twice, an unknown section or option, and a value of\n"
	    "the wrong type or out of bounds are errors, reported as\n"
	    "\\fIFILE\\fP:\\fILINE\\fP: reason.\n"
	    "Lines are at most 198 characters long.\n", out);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct conf_opt *o = &options[i];
		struct mp_buf t = MP_BUF_INIT;

		if (cur == NULL || strcmp(cur, o->section) != 0) {
			fprintf(out, ".SH \"SECTION [%s]\"\n", o->section);
			cur = o->section;
		}
		fprintf(out, ".TP\n.B ");
		roff_text(out, o->name);
		fputc('\n', out);
		roff_text(out, o->help);
		fputc('\n', out);
		type_text(&t, o);
		fputs(".br\nType: ", out);
		roff_text(out, mp_buf_str(&t));
		fputs(". Default: ", out);
		if (o->def[0] != '\0')
			roff_text(out, o->def);
		else
			fputs("empty", out);
		fputs(".\n", out);
		mp_buf_free(&t);
	}
	fputs(".SH SEE ALSO\n"
	    ".BR mailposture\\-milter (8),\n"
	    ".BR mailposture\\-audit (8),\n"
	    ".BR mailposture\\-check (1),\n"
	    ".BR mailposture\\-report (1)\n", out);
}

void
mp_conf_describe(FILE *out, const char *format)
{
	if (strcmp(format, "ini") == 0)
		describe_ini(out);
	else if (strcmp(format, "man") == 0)
		describe_man(out);
	else {
		mp_log(LOG_CRIT, "mp_conf_describe: unknown format %s", format);
		abort();
	}
}

struct mp_conf *
mp_conf_load_or_defaults(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (path != NULL)
		return mp_conf_load(path, err, errlen);
	/* A missing default file is normal on a fresh host; a broken one is an error. */
	if (stat(MP_CONF_DEFAULT_PATH, &st) == 0)
		return mp_conf_load(MP_CONF_DEFAULT_PATH, err, errlen);
	return mp_conf_new_defaults();
}
