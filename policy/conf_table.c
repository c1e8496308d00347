/*
 * conf's option table: the only place an option, its default and its
 * bounds are defined. The loader, the getters, the commented sample
 * (conf/mailposture.conf) and the manual page are all derived from it.
 * Below it, the format checks of the string options.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <string.h>

#include "conf_int.h"
#include "domain.h"
#include "netaddr.h"
#include "util.h"

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
static bool check_redis_list(const char *, char *, size_t);
static bool check_redis_name(const char *, char *, size_t);
static bool check_metrics_listen(const char *, char *, size_t);
static bool check_key_prefix(const char *, char *, size_t);
static bool check_host(const char *, char *, size_t);
static bool check_domain_or_empty(const char *, char *, size_t);
static bool check_ip_or_empty(const char *, char *, size_t);
static bool check_domain_list(const char *, char *, size_t);
static bool check_grade_or_empty(const char *, char *, size_t);
static bool check_mailbox_or_empty(const char *, char *, size_t);
static bool check_secret_file(const char *, char *, size_t);

#define STR(s, n, d, chk, fl, h) { s, n, MP_CONF_STRING, d, 0, 0, NULL, fl, chk, h }
#define INT(s, n, d, lo, hi, h) { s, n, MP_CONF_INT, d, lo, hi, NULL, 0, NULL, h }
#define BOOL(s, n, d, h) { s, n, MP_CONF_BOOL, d, 0, 0, NULL, 0, NULL, h }
#define ENUM(s, n, d, w, h) { s, n, MP_CONF_ENUM, d, 0, 0, w, 0, NULL, h }
#define SECRET(s, n, h) { s, n, MP_CONF_SECRET_FILE, "", 0, 0, NULL, 0, check_secret_file, h }

const struct conf_opt conf_options[] = {
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
	    "commas. Indented lines continue the list. Bits set past the "
	    "prefix length (192.0.2.1/24) are an error. An IPv4 network also "
	    "holds the IPv4-mapped IPv6 form of its addresses (::ffff:192.0.2.1)."),
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
	    "The Public Suffix List, an absolute path. It only groups: the "
	    "registrable domain of a From domain is the Redis hash tag of "
	    "its keys and the row of mailposture-report. DMARC finds "
	    "Organizational Domains by the RFC 9989 DNS Tree Walk, never "
	    "from this list."),
	INT("policy", "eval_timeout", "10", 1, 120,
	    "Time for evaluating one message, all its DNS lookups together, in "
	    "seconds. Keep it below the MTA's milter timeouts."),
	BOOL("policy", "posture", "yes",
	    "Score the published records (SPF, DMARC) of the sender's domain "
	    "and store the score with the verdict."),
	INT("policy", "posture_ttl", "3600", 0, 604800,
	    "How long a domain's posture score is reused before it is "
	    "evaluated again, in seconds. 0: evaluated for every message."),

	BOOL("dkim", "verify", "yes",
	    "Verify DKIM signatures here (RFC 6376, with RFC 8301 and RFC 8463), "
	    "and let only these results count for DMARC. no: take DKIM results "
	    "from the Authentication-Results headers of trusted_authserv_ids "
	    "instead."),
	INT("dkim", "max_signatures", "10", 1, 16,
	    "DKIM signatures verified per message, at most; signatures whose d= "
	    "is the From domain's organization come first. The others are "
	    "reported as not checked."),
	ENUM("dkim", "body_length", "policy", "policy|pass",
	    "A signature whose l= tag leaves part of the body unsigned: policy "
	    "(never a pass: anybody may add text after the signed part) or "
	    "pass (as RFC 6376 allows; the unsigned text is logged)."),

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
	    "Lifetime of a message verdict, in seconds (86400 is a day)."),
	INT("redis", "ttl_domain", "7776000", 86400, 63072000,
	    "Lifetime of a domain's counters, renewed on each message, in "
	    "seconds (86400 is a day)."),
	INT("redis", "ttl_day", "3024000", 86400, 63072000,
	    "Lifetime of a domain's daily counters, in seconds (86400 is a "
	    "day)."),
	INT("redis", "queue_size", "10000", 1, 1000000,
	    "Most verdicts waiting to be written to Redis, in messages. When "
	    "the queue is full new verdicts are dropped and counted; mail "
	    "still flows."),
	STR("redis", "sentinels", "", check_redis_list, F_LIST,
	    "Redis Sentinel instances, HOST:PORT or [IPV6-ADDRESS]:PORT separated "
	    "by spaces or commas, asked for the master of master_name instead "
	    "of using address. The writer follows failovers and keeps its "
	    "queue meanwhile. Empty: no Sentinel."),
	STR("redis", "master_name", "", check_redis_name, 0,
	    "The master name the sentinels know (their 'sentinel monitor' "
	    "name)."),
	ENUM("redis", "read_from", "master", "master|replica",
	    "Where mailposture-report reads: the master, or with sentinels a "
	    "replica that is up (the master when none is)."),
	INT("redis", "replica_wait", "100", 0, 10000,
	    "With sentinels: after each batch the writer waits up to this many "
	    "milliseconds for a replica to confirm it (WAIT 1), and resends what "
	    "no replica confirmed after a failover. 0: no wait."),
	STR("redis", "cluster", "", check_redis_list, F_LIST,
	    "Redis Cluster nodes to learn the slot map from, HOST:PORT or "
	    "[IPV6-ADDRESS]:PORT separated by spaces or commas, instead of "
	    "address. db must be 0. Empty: no Cluster."),
	BOOL("redis", "share_posture", "yes",
	    "Share posture scores with the other MX hosts of this Redis: each "
	    "score computed here is published, and the writer thread brings "
	    "the others' scores into the local posture cache (never on the "
	    "message's path)."),

	STR("metrics", "listen", "", check_metrics_listen, 0,
	    "Address and port where mailposture-milter serves its Prometheus "
	    "metrics over HTTP (GET /metrics), for example 127.0.0.1:9464: "
	    "ADDRESS:PORT or [IPV6-ADDRESS]:PORT. There is no authentication: "
	    "keep it on loopback, or put a proxy with TLS and authentication or a "
	    "firewall in front. It is bound after privileges are dropped, so the "
	    "port must be 1024 or above. SIGHUP keeps it when unchanged and "
	    "moves it when changed. Empty: no metrics listener."),

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
	STR("audit", "ca_file", "", check_path_or_empty, 0,
	    "CA certificates (a PEM file, an absolute path) trusted beside the "
	    "system's, for the MTA-STS policy's HTTPS server and the SMTP "
	    "server's certificate: a private CA, or a test CA. Empty: the "
	    "system's CAs only."),

	STR("report", "org_name", "", NULL, 0,
	    "The Reporting Organization named in DMARC aggregate reports "
	    "(mailposture-report aggregate). Reports are made and the Debian "
	    "timer sends them only once org_name and email are set."),
	STR("report", "email", "", check_mailbox_or_empty, 0,
	    "Contact address of the Reporting Organization, user@domain, "
	    "written in every aggregate report."),
	STR("report", "extra_contact_info", "", NULL, 0,
	    "More contact details for the reports (a URL, a phone number). "
	    "Empty: none."),
	STR("report", "from", "", check_mailbox_or_empty, 0,
	    "Envelope sender (-f) and From of the report mail, user@domain, in a "
	    "domain whose SPF and DKIM this host passes: report mail must pass "
	    "DMARC itself. Its domain is the Submitter. Mail from it that passes "
	    "SPF is not counted in reports. Empty: email."),
	STR("report", "sendmail", "/usr/sbin/sendmail -t -oi", check_path, 0,
	    "The command that submits report mail to the local MTA, its words "
	    "split at spaces (no shell); -f and the From address are added."),
	INT("report", "max_rows", "10000", 1, 1000000,
	    "Distinct report rows kept per policy domain and day. Messages that "
	    "would make a new row past it are counted, not dropped: the report "
	    "says how many it leaves out, and a warning is logged."),
	INT("report", "max_destinations", "2", 1, 10,
	    "rua mailto: URIs a report goes to, at most, per policy domain "
	    "(the first ones of the record)."),

	ENUM("log", "facility", "mail",
	    "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7",
	    "syslog facility of the milter."),
	ENUM("log", "level", "info", "err|warning|notice|info|debug",
	    "Least important messages that are logged."),
};

const size_t conf_noptions = MP_ARRAY_SIZE(conf_options);

/* ---- format checks ---------------------------------------------------- */

static bool
check_socket(const char *v, char *why, size_t whylen)
{
	return mp_endpoint_parse_milter(v, 0, NULL, why, whylen);
}

static bool
check_mode(const char *v, char *why, size_t whylen)
{
	size_t len = strlen(v);
	unsigned long mode = 0;

	if (len == 0 || len > 4)
		return conf_whyf(why, whylen, "expected an octal mode such as 0660");
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '7')
			return conf_whyf(why, whylen, "expected an octal mode such as 0660");
		mode = mode * 8 + (unsigned long)(v[i] - '0');
	}
	if (mode > 0777)
		return conf_whyf(why, whylen,
		    "mode %04lo has setuid, setgid or sticky bits (0000..0777)", mode);
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
		return conf_whyf(why, whylen, "name longer than 32 characters");
	if (v[0] == '-')
		return conf_whyf(why, whylen, "name starts with '-'");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return conf_whyf(why, whylen,
			    "character not allowed in a user or group name");
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
		return conf_whyf(why, whylen, "expected an absolute path");
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
			return conf_whyf(why, whylen, "list item longer than %zu bytes",
			    sizeof(item) - 1);
		memcpy(item, p, n);
		item[n] = '\0';
		if (!fn(item, why, whylen))
			return false;
		p += n;
	}
	return true;
}

/* The milter's skip list takes the same networks (netaddr's one rule). */
static bool
cidr_ok(const char *item, char *why, size_t whylen)
{
	struct mp_buf q = MP_BUF_INIT;
	struct mp_netprefix p;
	char reason[128];

	if (mp_netprefix_parse(item, strlen(item), &p, reason, sizeof(reason)))
		return true;
	conf_whyf(why, whylen, "'%s' is not an ADDRESS or ADDRESS/PREFIX: %s",
	    conf_quote(&q, item), reason);
	mp_buf_free(&q);
	return false;
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
	conf_whyf(why, whylen, "'%s' is not a domain name: %s", conf_quote(&q, item), reason);
	mp_buf_free(&q);
	return false;
}

static bool
sender_ok(const char *item, char *why, size_t whylen)
{
	struct mp_sender_pattern sp;
	struct mp_buf q = MP_BUF_INIT;
	const char *reason;
	bool bad_domain;

	if (mp_sender_pattern_parse(item, strlen(item), &sp, &bad_domain, &reason))
		return true;
	if (bad_domain)
		conf_whyf(why, whylen, "'%s' is not a domain name: %s", conf_quote(&q, item),
		    reason);
	else
		conf_whyf(why, whylen, "'%s' is not user@domain, @domain or domain: %s",
		    conf_quote(&q, item), reason);
	mp_buf_free(&q);
	return false;
}

static bool
check_sender_list(const char *v, char *why, size_t whylen)
{
	return each_item(v, why, whylen, sender_ok);
}

static bool
check_resolver(const char *v, char *why, size_t whylen)
{
	const char *at;

	if (v[0] == '\0')
		return true;
	at = strrchr(v, '@');
	if (!mp_netaddr_parse(v, at != NULL ? (size_t)(at - v) : strlen(v), NULL))
		return conf_whyf(why, whylen,
		    "expected ADDRESS or ADDRESS@PORT, with an IP address");
	if (at != NULL && !mp_netaddr_port(at + 1, strnlen(at + 1, 6), NULL))
		return conf_whyf(why, whylen, "bad port (1..65535) after '@'");
	return true;
}

/* An RFC 2045 token, which is what an authserv-id is in practice. */
static bool
token_ok(const char *item, char *why, size_t whylen)
{
	if (strlen(item) > 255)
		return conf_whyf(why, whylen, "authserv-id longer than 255 characters");
	for (const char *p = item; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL)
			return conf_whyf(why, whylen, "character '%c' not allowed in an authserv-id",
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
	return v[0] == '\0' || mp_endpoint_parse_hostport(v, NULL, why, whylen);
}

/* Sentinels and cluster nodes speak TCP only: no unix socket. */
static bool
redis_node_ok(const char *item, char *why, size_t whylen)
{
	struct mp_endpoint ep;

	if (!mp_endpoint_parse_hostport(item, &ep, why, whylen))
		return false;
	if (ep.is_unix)
		return conf_whyf(why, whylen, "expected HOST:PORT or [IPV6-ADDRESS]:PORT");
	return true;
}

static bool
check_redis_list(const char *v, char *why, size_t whylen)
{
	return each_item(v, why, whylen, redis_node_ok);
}

/* A Sentinel master name: one word of printable ASCII. */
static bool
check_redis_name(const char *v, char *why, size_t whylen)
{
	if (strlen(v) > 100)
		return conf_whyf(why, whylen, "name longer than 100 characters");
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return conf_whyf(why, whylen, "name with a space or a non-ASCII byte");
	return true;
}

/* user@domain: the report's addresses, by the parser of sender patterns. */
static bool
check_mailbox_or_empty(const char *v, char *why, size_t whylen)
{
	struct mp_sender_pattern sp;
	struct mp_buf q = MP_BUF_INIT;
	const char *reason = "no local part";
	bool bad_domain, ok;

	if (v[0] == '\0')
		return true;
	ok = mp_sender_pattern_parse(v, strlen(v), &sp, &bad_domain, &reason) &&
	    sp.local[0] != '\0';
	if (!ok)
		conf_whyf(why, whylen, "'%s' is not user@domain: %s", conf_quote(&q, v), reason);
	mp_buf_free(&q);
	return ok;
}

/* An address, not a name: nothing to resolve when the milter starts. */
static bool
check_metrics_listen(const char *v, char *why, size_t whylen)
{
	struct mp_endpoint ep;

	if (v[0] == '\0')
		return true;
	if (!mp_endpoint_parse_hostport(v, &ep, why, whylen))
		return false;
	if (ep.family != AF_INET && ep.family != AF_INET6)
		return conf_whyf(why, whylen, "expected ADDRESS:PORT or [IPV6-ADDRESS]:PORT");
	return true;
}

/* Braces would break the {org} hash tag that every key carries. */
static bool
check_key_prefix(const char *v, char *why, size_t whylen)
{
	if (strlen(v) > 32)
		return conf_whyf(why, whylen, "key prefix longer than 32 characters");
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '{' || c == '}')
			return conf_whyf(why, whylen,
			    "key prefix with a space, a brace or a non-ASCII byte");
	}
	return true;
}

static bool
check_host(const char *v, char *why, size_t whylen)
{
	if (mp_netaddr_host(v, strlen(v)))
		return true;
	return conf_whyf(why, whylen, "expected a host name or an IP address");
}

static bool
check_domain_or_empty(const char *v, char *why, size_t whylen)
{
	return v[0] == '\0' || domain_item_ok(v, why, whylen);
}

static bool
check_ip_or_empty(const char *v, char *why, size_t whylen)
{
	if (v[0] == '\0' || mp_netaddr_parse(v, strlen(v), NULL))
		return true;
	return conf_whyf(why, whylen, "expected an IPv4 or IPv6 address");
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
	return conf_whyf(why, whylen,
	    "expected a grade: A+, A, A-, B+, B, B-, C+, C, C-, D+, D, D- or F");
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
		return conf_whyf(why, whylen, "expected an absolute path");
	if (stat(v, &st) == -1)
		return conf_whyf(why, whylen, "%s: %s", v, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return conf_whyf(why, whylen, "%s: not a regular file", v);
	if ((st.st_mode & 077) != 0)
		return conf_whyf(why, whylen, "%s: mode %04o gives access to group or others; "
		    "it must be private (chmod 600)", v, (unsigned)(st.st_mode & 07777));
	return true;
}
