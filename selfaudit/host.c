/*
 * host: the Postfix settings read with postconf and judged, and the
 * deployment preflight (Public Suffix List, Redis). The milter wiring is
 * host_milter.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "domain.h"
#include "host_int.h"
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

/* Starts postconf with its standard output on a pipe: the pid (*fd_r the
 * pipe), or -1 and pc->err. */
static pid_t
postconf_spawn(const char *prog, const char *dir, int *fd_r, struct audit_postconf *pc)
{
	const char *argv[8 + MP_ARRAY_SIZE(pc_names)];
	size_t argc = 0;
	int fds[2];
	pid_t pid;

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
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		snprintf(pc->err, sizeof(pc->err), "fork: %s", strerror(errno));
		return -1;
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
	*fd_r = fds[0];
	return pid;
}

/*
 * Reads postconf's output into buf (buflen - 1 bytes at most) until it
 * ends; kills postconf and sets pc->err when it takes over 3 s or says
 * too much. Returns the length read.
 */
static size_t
postconf_collect(int fd, pid_t pid, char *buf, size_t buflen, struct audit_postconf *pc)
{
	struct mp_deadline dl;
	size_t len = 0;

	mp_deadline_set(&dl, 3000);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		unsigned left = mp_deadline_left(&dl);

		if (left == 0 || poll(&p, 1, (int)left) <= 0) {
			kill(pid, SIGKILL);
			snprintf(pc->err, sizeof(pc->err), "postconf did not answer in time");
			break;
		}
		n = read(fd, buf + len, buflen - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len >= buflen - 1) {
			kill(pid, SIGKILL);
			snprintf(pc->err, sizeof(pc->err), "postconf output too long");
			break;
		}
	}
	return len;
}

/* One value per line, in the order of pc_names. */
static bool
postconf_values(char *buf, struct audit_postconf *pc)
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
	pc->ok = true;
	return true;
}

bool
audit_postconf_read(const char *dir, struct audit_postconf *pc)
{
	const char *prog = find_postconf();
	char buf[65536];
	size_t len;
	int fd, status;
	pid_t pid;

	memset(pc, 0, sizeof(*pc));
	if (prog == NULL) {
		snprintf(pc->err, sizeof(pc->err), "postconf not found: Postfix is not installed here");
		return false;
	}
	if ((pid = postconf_spawn(prog, dir, &fd, pc)) < 0)
		return false;
	len = postconf_collect(fd, pid, buf, sizeof(buf), pc);
	close(fd);
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
	return postconf_values(buf, pc);
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

static void
judge_postconf(struct audit_report *r, const struct audit_postconf *pc)
{
	struct mp_buf problems = MP_BUF_INIT, warns = MP_BUF_INIT, fix = MP_BUF_INIT;
	const char *mynet = audit_postconf_get(pc, "mynetworks");
	const char *relay = audit_postconf_get(pc, "smtpd_relay_restrictions");
	const char *rcpt = audit_postconf_get(pc, "smtpd_recipient_restrictions");
	const char *lvl = audit_postconf_get(pc, "smtpd_tls_security_level");
	char wide[100];

	for (size_t i = 0; i < pc->n; i++)
		audit_evidence(r, CHK_POSTCONF, "%s = %s", pc->name[i], pc->value[i]);
	if (mynet && audit_networks_too_wide(mynet, wide, sizeof(wide))) {
		audit_list_add(&problems, "; ", "mynetworks trusts %s (open relay)", wide);
		mp_buf_puts(&fix, "mynetworks = 127.0.0.0/8 [::1]/128 plus your own networks only. ");
		if (has_word(relay, "permit_mynetworks") || has_word(rcpt, "permit_mynetworks"))
			audit_cap(r, CHK_POSTCONF);
	}
	if (relay && rcpt && !has_word(relay, "reject_unauth_destination") &&
	    !has_word(relay, "defer_unauth_destination") &&
	    !has_word(rcpt, "reject_unauth_destination") &&
	    !has_word(rcpt, "defer_unauth_destination")) {
		audit_list_add(&problems, "; ", "%s",
		    "no reject_unauth_destination in the relay or recipient restrictions");
		mp_buf_puts(&fix, "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
		    "defer_unauth_destination. ");
	}
	if (mp_strcasecmp(audit_postconf_get(pc, "disable_vrfy_command"), "yes") != 0) {
		audit_list_add(&warns, "; ", "%s", "disable_vrfy_command = no");
		mp_buf_puts(&fix, "disable_vrfy_command = yes. ");
	}
	if (mp_strcasecmp(audit_postconf_get(pc, "smtpd_sasl_auth_enable"), "yes") == 0 &&
	    mp_strcasecmp(audit_postconf_get(pc, "smtpd_tls_auth_only"), "yes") != 0) {
		audit_list_add(&warns, "; ", "%s", "SASL enabled with smtpd_tls_auth_only = no");
		mp_buf_puts(&fix, "smtpd_tls_auth_only = yes. ");
	}
	if (lvl == NULL || *lvl == '\0' || mp_strcasecmp(lvl, "none") == 0) {
		audit_list_add(&warns, "; ", "%s", "smtpd_tls_security_level is empty (no STARTTLS)");
		mp_buf_puts(&fix, "smtpd_tls_security_level = may. ");
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
}

void
audit_host_judge_postfix(struct audit_report *r, const struct audit_postconf *pc,
    const struct mp_conf *conf, unsigned timeout_ms)
{
	if (!pc->ok) {
		audit_set(r, CHK_POSTCONF, AUDIT_NOT_TESTED, "%s", pc->err);
		audit_set(r, CHK_MILTER, AUDIT_NOT_TESTED, "%s", pc->err);
		return;
	}
	judge_postconf(r, pc);
	host_judge_milter(r, pc, conf, timeout_ms);
}

static void
judge_psl(struct audit_report *r, const struct mp_conf *conf)
{
	const char *psl_file = mp_conf_str(conf, "policy", "psl_file");
	char err[256], org[MP_DOMAIN_MAX];
	struct mp_psl *psl = mp_psl_load(psl_file, err, sizeof(err));

	if (psl == NULL) {
		audit_set(r, CHK_PSL, AUDIT_FAIL, "cannot load %s: %s", psl_file, err);
		audit_fix(r, CHK_PSL, "Install the Debian package publicsuffix or set [policy] psl_file.");
		return;
	}
	/* A list that loads but does not know "example.co.uk" is not the real one. */
	if (mp_psl_org_domain(psl, "a.b.example.co.uk", org) && strcmp(org, "example.co.uk") == 0) {
		audit_set(r, CHK_PSL, AUDIT_PASS, "%s loads", psl_file);
	} else {
		audit_set(r, CHK_PSL, AUDIT_WARN, "%s loads, but does not know co.uk", psl_file);
		audit_fix(r, CHK_PSL, "Install the Debian package publicsuffix.");
	}
	mp_psl_free(&psl);
}

static void
judge_redis(struct audit_report *r, const struct mp_conf *conf)
{
	struct mp_store_options so;
	struct redisContext *rc;
	redisReply *rep;
	char err[256];

	mp_store_options_from_conf(conf, &so);
	if (!mp_store_options_enabled(&so)) {
		audit_set(r, CHK_REDIS, AUDIT_NOT_TESTED,
		    "not configured ([redis] address, sentinels and cluster are empty)");
		return;
	}
	if (so.cluster[0] != '\0') {
		/* No single connection serves a Cluster: the milter's writer
		 * checks every node it routes to, and logs what fails. */
		audit_set(r, CHK_REDIS, AUDIT_NOT_TESTED, "a Redis Cluster: not checked here");
		return;
	}
	rc = mp_store_connect(&so, so.timeout_ms, err, sizeof(err));
	if (rc == NULL) {
		audit_set(r, CHK_REDIS, AUDIT_FAIL, "cannot reach Redis at %s: %s",
		    so.address[0] != '\0' ? so.address : so.sentinels, err);
		audit_fix(r, CHK_REDIS, "Start redis-server, or check [redis] address and password_file.");
		return;
	}
	rep = redisCommand(rc, "PING");
	if (rep != NULL && rep->type == REDIS_REPLY_STATUS) {
		audit_set(r, CHK_REDIS, AUDIT_PASS, "Redis at %s answers PING", so.address);
	} else {
		audit_set(r, CHK_REDIS, AUDIT_FAIL, "Redis at %s does not answer PING: %s",
		    so.address, rep && rep->type == REDIS_REPLY_ERROR ? rep->str : rc->errstr);
		audit_fix(r, CHK_REDIS, "Check the Redis password and ACLs.");
	}
	if (rep != NULL)
		freeReplyObject(rep);
	redisFree(rc);
}

void
audit_host_judge_preflight(struct audit_report *r, const struct mp_conf *conf)
{
	judge_psl(r, conf);
	judge_redis(r, conf);
}
