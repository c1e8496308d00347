/*
 * host: postconf, the milter handshake, and the deployment preflight.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "domain.h"
#include "host.h"
#include "probe.h"
#include "store.h"

static const char *const pc_names[] = {
	"myhostname", "mydomain", "disable_vrfy_command", "smtpd_tls_auth_only",
	"smtpd_sasl_auth_enable", "mynetworks", "smtpd_relay_restrictions",
	"smtpd_recipient_restrictions", "smtpd_milters", "smtpd_tls_security_level",
	"allow_percent_hack", "local_recipient_maps", "queue_directory", "milter_default_action",
	"mydestination", "relay_domains", "virtual_alias_domains", "virtual_mailbox_domains",
};
_Static_assert(MP_ARRAY_SIZE(pc_names) <= AUDIT_PC_MAX, "raise AUDIT_PC_MAX");

static const char *
find_postconf(void)
{
	static const char *const paths[] = { "/usr/sbin/postconf", "/usr/local/sbin/postconf",
	    "/sbin/postconf", "/usr/bin/postconf" };

	for (size_t i = 0; i < MP_ARRAY_SIZE(paths); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

bool
audit_postconf_read(const char *dir, struct audit_postconf *pc)
{
	const char *prog = find_postconf();
	const char *argv[8 + MP_ARRAY_SIZE(pc_names)];
	int fds[2], status;
	size_t argc = 0, len = 0;
	char buf[65536];
	pid_t pid;
	struct mp_deadline dl;

	memset(pc, 0, sizeof(*pc));
	if (prog == NULL) {
		snprintf(pc->err, sizeof(pc->err), "postconf not found: Postfix is not installed here");
		return false;
	}
	argv[argc++] = prog;
	if (dir != NULL && *dir != '\0') {
		argv[argc++] = "-c";
		argv[argc++] = dir;
	}
	argv[argc++] = "-h";
	argv[argc++] = "-x";	/* $myhostname etc. expanded: domains compare as such */
	for (size_t i = 0; i < MP_ARRAY_SIZE(pc_names); i++)
		argv[argc++] = pc_names[i];
	argv[argc] = NULL;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(pc->err, sizeof(pc->err), "pipe: %s", strerror(errno));
		return false;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		snprintf(pc->err, sizeof(pc->err), "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(fds[1], 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	mp_deadline_set(&dl, 3000);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		ssize_t n;
		unsigned left = mp_deadline_left(&dl);

		if (left == 0 || poll(&p, 1, (int)left) <= 0) {
			kill(pid, SIGKILL);
			snprintf(pc->err, sizeof(pc->err), "postconf did not answer in time");
			break;
		}
		n = read(fds[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len >= sizeof(buf) - 1) {
			kill(pid, SIGKILL);
			snprintf(pc->err, sizeof(pc->err), "postconf output too long");
			break;
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pc->err[0] != '\0')
		return false;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(pc->err, sizeof(pc->err), "postconf%s%s failed (status %d)",
		    dir ? " -c " : "", dir ? dir : "", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return false;
	}
	buf[len] = '\0';
	{
		char *p = buf;

		for (size_t i = 0; i < MP_ARRAY_SIZE(pc_names); i++) {
			char *nl = strchr(p, '\n');

			if (nl == NULL) {
				snprintf(pc->err, sizeof(pc->err), "postconf printed %zu values, not %zu",
				    i, MP_ARRAY_SIZE(pc_names));
				audit_postconf_free(pc);
				return false;
			}
			*nl = '\0';
			pc->name[pc->n] = pc_names[i];
			pc->value[pc->n++] = xstrdup(p);
			p = nl + 1;
		}
	}
	pc->ok = true;
	return true;
}

const char *
audit_postconf_get(const struct audit_postconf *pc, const char *name)
{
	for (size_t i = 0; i < pc->n; i++)
		if (strcmp(pc->name[i], name) == 0)
			return pc->value[i];
	return NULL;
}

void
audit_postconf_free(struct audit_postconf *pc)
{
	for (size_t i = 0; i < pc->n; i++)
		free(pc->value[i]);
	pc->n = 0;
	pc->ok = false;
}

size_t
audit_milter_specs(const char *value, char out[][256], size_t max)
{
	const char *p = value;
	size_t n = 0;

	while (*p != '\0' && n < max) {
		size_t l;

		while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
			p++;
		if (*p == '\0')
			break;
		if (*p == '{') {
			/* { spec, name=value, ... }: the first element is the socket. */
			const char *close = strchr(p, '}');
			const char *s = p + 1;

			while (*s == ' ' || *s == '\t')
				s++;
			l = strcspn(s, " ,\t}");
			if (l > 0 && l < 256) {
				memcpy(out[n], s, l);
				out[n++][l] = '\0';
			}
			if (close == NULL)
				break;
			p = close + 1;
			continue;
		}
		l = strcspn(p, " ,\t\n");
		if (l < 256) {
			memcpy(out[n], p, l);
			out[n++][l] = '\0';
		}
		p += l;
	}
	return n;
}

static bool
io_full(int fd, void *buf, size_t len, bool writing, const struct mp_deadline *dl)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd p = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
		ssize_t n;
		unsigned left = mp_deadline_left(dl);

		if (left == 0 || poll(&p, 1, (int)left) <= 0)
			return false;
		n = writing ? send(fd, (char *)buf + off, len - off, MSG_NOSIGNAL) :
		    read(fd, (char *)buf + off, len - off);
		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

bool
audit_milter_handshake(const char *spec, const char *queue_dir, unsigned timeout_ms,
    char *what, size_t whatlen)
{
	struct mp_deadline dl;
	int fd = -1;
	unsigned char pkt[17], hdr[5];
	uint32_t v;

	mp_deadline_set(&dl, timeout_ms);
	if (strncmp(spec, "unix:", 5) == 0 || spec[0] == '/') {
		struct sockaddr_un sun;
		const char *path = spec[0] == '/' ? spec : spec + 5;
		char full[512];

		if (path[0] != '/' && queue_dir != NULL && *queue_dir != '\0') {
			snprintf(full, sizeof(full), "%s/%s", queue_dir, path);
			path = full;
		}
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (!mp_strlcpy(sun.sun_path, path, sizeof(sun.sun_path))) {
			snprintf(what, whatlen, "socket path too long");
			return false;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
			snprintf(what, whatlen, "cannot connect to %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return false;
		}
	} else if (strncmp(spec, "inet:", 5) == 0) {
		/* inet:host:port (Postfix) or inet:port@host (Sendmail). */
		char host[256], port[32];
		const char *s = spec + 5, *at = strchr(s, '@'), *colon = strrchr(s, ':');
		struct addrinfo hints, *res = NULL;

		if (at != NULL) {
			snprintf(port, sizeof(port), "%.*s", (int)(at - s), s);
			snprintf(host, sizeof(host), "%s", at + 1);
		} else if (colon != NULL) {
			snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
			snprintf(port, sizeof(port), "%s", colon + 1);
		} else {
			snprintf(host, sizeof(host), "127.0.0.1");
			snprintf(port, sizeof(port), "%s", s);
		}
		if (host[0] == '[') {
			size_t hl = strlen(host);

			memmove(host, host + 1, hl);
			if (hl >= 2 && host[hl - 2] == ']')
				host[hl - 2] = '\0';
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, port, &hints, &res) != 0) {
			snprintf(what, whatlen, "cannot resolve %s port %s", host, port);
			return false;
		}
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
			snprintf(what, whatlen, "cannot connect to %s port %s: %s", host, port, strerror(errno));
			if (fd >= 0)
				close(fd);
			freeaddrinfo(res);
			return false;
		}
		freeaddrinfo(res);
	} else {
		snprintf(what, whatlen, "unsupported socket type");
		return false;
	}
	/* SMFIC_OPTNEG: length 13, 'O', version 6, all actions, no protocol steps skipped. */
	v = htonl(13);
	memcpy(pkt, &v, 4);
	pkt[4] = 'O';
	v = htonl(6);
	memcpy(pkt + 5, &v, 4);
	v = htonl(0x1ff);
	memcpy(pkt + 9, &v, 4);
	v = htonl(0);
	memcpy(pkt + 13, &v, 4);
	if (!io_full(fd, pkt, sizeof(pkt), true, &dl) || !io_full(fd, hdr, sizeof(hdr), false, &dl)) {
		snprintf(what, whatlen, "no answer to the milter handshake within %u ms", timeout_ms);
		close(fd);
		return false;
	}
	memcpy(&v, hdr, 4);
	v = ntohl(v);
	if (hdr[4] != 'O' || v < 13 || v > 65536) {
		snprintf(what, whatlen, "unexpected answer to the handshake (command 0x%02x, length %u)",
		    hdr[4], v);
		close(fd);
		return false;
	}
	{
		unsigned char rest[12];

		if (!io_full(fd, rest, sizeof(rest), false, &dl)) {
			snprintf(what, whatlen, "truncated handshake answer");
			close(fd);
			return false;
		}
		memcpy(&v, rest, 4);
		snprintf(what, whatlen, "answers the handshake (milter protocol version %u)", ntohl(v));
	}
	{
		unsigned char quit[5] = { 0, 0, 0, 1, 'Q' };

		(void)io_full(fd, quit, sizeof(quit), true, &dl);
	}
	close(fd);
	return true;
}

/* One spelling per socket: inet:host:port (Postfix) and inet:port@host
 * (Sendmail, our [milter] socket) name the same thing. */
static void
spec_canon(const char *spec, char *out, size_t outlen)
{
	if (strncmp(spec, "inet:", 5) == 0) {
		const char *s = spec + 5, *at = strchr(s, '@'), *colon = strrchr(s, ':');

		if (at != NULL)
			snprintf(out, outlen, "inet:%s:%.*s", at + 1, (int)(at - s), s);
		else if (colon != NULL)
			snprintf(out, outlen, "inet:%s", s);
		else
			snprintf(out, outlen, "inet:127.0.0.1:%s", s);
	} else if (strncmp(spec, "local:", 6) == 0) {
		snprintf(out, outlen, "unix:%s", spec + 6);
	} else if (spec[0] == '/') {
		snprintf(out, outlen, "unix:%s", spec);
	} else {
		snprintf(out, outlen, "%s", spec);
	}
	/* "localhost" and 127.0.0.1 are the same host here. */
	{
		char *l = strstr(out, "inet:localhost:");

		if (l != NULL) {
			char rest[300];

			snprintf(rest, sizeof(rest), "%s", l + 15);
			snprintf(out, outlen, "inet:127.0.0.1:%.200s", rest);
		}
	}
}

static bool
has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; p != NULL && *p != '\0';) {
		size_t l;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		l = strcspn(p, " ,\t");
		if (l == wl && mp_strncasecmp(p, word, wl) == 0)
			return true;
		p += l;
	}
	return false;
}

void
audit_host_judge_postfix(struct audit_report *r, const struct audit_postconf *pc,
    const struct mp_conf *conf, unsigned timeout_ms)
{
	struct mp_buf problems = MP_BUF_INIT, warns = MP_BUF_INIT, fix = MP_BUF_INIT;
	const char *mynet, *relay, *rcpt, *milters;
	char wide[100];

	if (!pc->ok) {
		audit_set(r, CHK_POSTCONF, AUDIT_NOT_TESTED, "%s", pc->err);
		audit_set(r, CHK_MILTER, AUDIT_NOT_TESTED, "%s", pc->err);
		return;
	}
	for (size_t i = 0; i < pc->n; i++)
		audit_evidence(r, CHK_POSTCONF, "%s = %s", pc->name[i], pc->value[i]);
	mynet = audit_postconf_get(pc, "mynetworks");
	relay = audit_postconf_get(pc, "smtpd_relay_restrictions");
	rcpt = audit_postconf_get(pc, "smtpd_recipient_restrictions");
	if (mynet && audit_networks_too_wide(mynet, wide, sizeof(wide))) {
		mp_buf_printf(&problems, "mynetworks trusts %s (open relay)", wide);
		mp_buf_puts(&fix, "mynetworks = 127.0.0.0/8 [::1]/128 plus your own networks only. ");
		if (has_word(relay, "permit_mynetworks") || has_word(rcpt, "permit_mynetworks"))
			r->check[CHK_POSTCONF].cap = CAP_F;
	}
	if (relay && rcpt && !has_word(relay, "reject_unauth_destination") &&
	    !has_word(relay, "defer_unauth_destination") &&
	    !has_word(rcpt, "reject_unauth_destination") &&
	    !has_word(rcpt, "defer_unauth_destination")) {
		if (problems.len)
			mp_buf_puts(&problems, "; ");
		mp_buf_puts(&problems, "no reject_unauth_destination in the relay or recipient restrictions");
		mp_buf_puts(&fix, "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
		    "defer_unauth_destination. ");
	}
	if (mp_strcasecmp(audit_postconf_get(pc, "disable_vrfy_command"), "yes") != 0) {
		mp_buf_puts(&warns, "disable_vrfy_command = no");
		mp_buf_puts(&fix, "disable_vrfy_command = yes. ");
	}
	if (mp_strcasecmp(audit_postconf_get(pc, "smtpd_sasl_auth_enable"), "yes") == 0 &&
	    mp_strcasecmp(audit_postconf_get(pc, "smtpd_tls_auth_only"), "yes") != 0) {
		if (warns.len)
			mp_buf_puts(&warns, "; ");
		mp_buf_puts(&warns, "SASL enabled with smtpd_tls_auth_only = no");
		mp_buf_puts(&fix, "smtpd_tls_auth_only = yes. ");
	}
	{
		const char *lvl = audit_postconf_get(pc, "smtpd_tls_security_level");

		if (lvl == NULL || *lvl == '\0' || mp_strcasecmp(lvl, "none") == 0) {
			if (warns.len)
				mp_buf_puts(&warns, "; ");
			mp_buf_puts(&warns, "smtpd_tls_security_level is empty (no STARTTLS)");
			mp_buf_puts(&fix, "smtpd_tls_security_level = may. ");
		}
	}
	if (problems.len > 0) {
		audit_set(r, CHK_POSTCONF, AUDIT_FAIL, "%s%s%s", mp_buf_str(&problems),
		    warns.len ? "; " : "", mp_buf_str(&warns));
	} else if (warns.len > 0) {
		audit_set(r, CHK_POSTCONF, AUDIT_WARN, "%s", mp_buf_str(&warns));
	} else {
		audit_set(r, CHK_POSTCONF, AUDIT_PASS, "relay restrictions, mynetworks, VRFY, TLS and "
		    "AUTH settings are safe");
	}
	if (fix.len > 0)
		audit_fix(r, CHK_POSTCONF, "Postfix main.cf: %s", mp_buf_str(&fix));
	mp_buf_free(&problems);
	mp_buf_free(&warns);
	mp_buf_free(&fix);

	milters = audit_postconf_get(pc, "smtpd_milters");
	{
		char specs[8][256];
		size_t n = milters ? audit_milter_specs(milters, specs, 8) : 0, ok = 0;
		const char *ours = mp_conf_str(conf, "milter", "socket");
		bool named = false;

		if (n == 0) {
			audit_set(r, CHK_MILTER, AUDIT_FAIL, "smtpd_milters is empty: the milter is not wired in");
			audit_fix(r, CHK_MILTER, "Postfix main.cf: smtpd_milters = %s and "
			    "non_smtpd_milters = $smtpd_milters", ours);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			char what[300];
			bool good = audit_milter_handshake(specs[i], audit_postconf_get(pc, "queue_directory"),
			    timeout_ms, what, sizeof(what));

			audit_evidence(r, CHK_MILTER, "%s: %s", specs[i], what);
			if (good)
				ok++;
			{
				char a[300], b[300];

				spec_canon(specs[i], a, sizeof(a));
				spec_canon(ours, b, sizeof(b));
				if (strcmp(a, b) == 0)
					named = true;
			}
		}
		if (ok < n) {
			audit_set(r, CHK_MILTER, AUDIT_FAIL, "%zu of %zu milters in smtpd_milters do not answer "
			    "(milter_default_action = %s applies)", n - ok, n,
			    audit_postconf_get(pc, "milter_default_action"));
			audit_fix(r, CHK_MILTER, "Start mailposture-milter (systemctl start mailposture-milter) "
			    "and check that [milter] socket and smtpd_milters name the same socket.");
		} else if (!named) {
			audit_set(r, CHK_MILTER, AUDIT_WARN, "every milter answers, but none is [milter] socket "
			    "%s", ours);
			audit_fix(r, CHK_MILTER, "Postfix main.cf: add %s to smtpd_milters.", ours);
		} else {
			audit_set(r, CHK_MILTER, AUDIT_PASS, "%zu milter%s answer%s the handshake", n,
			    n == 1 ? "" : "s", n == 1 ? "s" : "");
		}
	}
}

void
audit_host_judge_preflight(struct audit_report *r, const struct mp_conf *conf)
{
	const char *psl_file = mp_conf_str(conf, "policy", "psl_file");
	char err[256];
	struct mp_psl *psl = mp_psl_load(psl_file, err, sizeof(err));

	if (psl != NULL) {
		char org[MP_DOMAIN_MAX];

		/* A list that loads but does not know "example.co.uk" is not the real one. */
		if (mp_psl_org_domain(psl, "a.b.example.co.uk", org) && strcmp(org, "example.co.uk") == 0)
			audit_set(r, CHK_PSL, AUDIT_PASS, "%s loads", psl_file);
		else {
			audit_set(r, CHK_PSL, AUDIT_WARN, "%s loads, but does not know co.uk", psl_file);
			audit_fix(r, CHK_PSL, "Install the Debian package publicsuffix.");
		}
		mp_psl_free(&psl);
	} else {
		audit_set(r, CHK_PSL, AUDIT_FAIL, "cannot load %s: %s", psl_file, err);
		audit_fix(r, CHK_PSL, "Install the Debian package publicsuffix or set [policy] psl_file.");
	}

	{
		struct mp_store_options so;
		struct redisContext *rc;

		mp_store_options_from_conf(conf, &so);
		if (so.address[0] == '\0') {
			audit_set(r, CHK_REDIS, AUDIT_NOT_TESTED, "not configured ([redis] address is empty)");
			return;
		}
		rc = mp_store_connect(&so, so.timeout_ms, err, sizeof(err));
		if (rc == NULL) {
			audit_set(r, CHK_REDIS, AUDIT_FAIL, "cannot reach Redis at %s: %s", so.address, err);
			audit_fix(r, CHK_REDIS, "Start redis-server, or check [redis] address and password_file.");
			return;
		}
		{
			redisReply *rep = redisCommand(rc, "PING");

			if (rep != NULL && rep->type == REDIS_REPLY_STATUS)
				audit_set(r, CHK_REDIS, AUDIT_PASS, "Redis at %s answers PING", so.address);
			else {
				audit_set(r, CHK_REDIS, AUDIT_FAIL, "Redis at %s does not answer PING: %s",
				    so.address, rep && rep->type == REDIS_REPLY_ERROR ? rep->str : rc->errstr);
				audit_fix(r, CHK_REDIS, "Check the Redis password and ACLs.");
			}
			if (rep != NULL)
				freeReplyObject(rep);
		}
		redisFree(rc);
	}
}
