/*
 * mailposture-milter: the daemon. Reads mailposture.conf, opens the milter
 * socket as root, drops to [milter] user, writes the pidfile again as that
 * user (who removes it on stop), and runs libmilter.
 *
 * Signals. libmilter starts a thread that sigwait()s for SIGHUP, SIGTERM
 * and SIGINT and stops the milter on any of them (libmilter/signal.c:
 * SIGHUP and SIGTERM both mean MILTER_STOP). We want SIGHUP to reload, so
 * this program defines sigwait() itself: libmilter's call binds to ours,
 * which waits for the same set minus SIGHUP. SIGHUP, blocked in every
 * thread, then reaches only our reload thread (sigwaitinfo). A second
 * thread waiting for SIGHUP alongside libmilter's would lose it to
 * libmilter now and then; this way no signal is raced for. When
 * smfi_main returns, main stops the reload thread (a flag, then a SIGHUP
 * sent to that thread alone) and joins it before it drops the engine,
 * so no reload runs during shutdown.
 *
 * Exit status: 0 clean stop (and -t: configuration valid), 1 runtime
 * failure, 2 usage or configuration error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "milter.h"
#include "util.h"

static const char *conf_path = MP_CONF_DEFAULT_PATH;
/* Set by main before it wakes the reload thread to make it return. */
static bool reload_stop;

int
sigwait(const sigset_t *set, int *sig)
{
	sigset_t s = *set;
	int r;

	sigdelset(&s, SIGHUP);
	do
		r = sigwaitinfo(&s, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	*sig = r;
	return 0;
}

static void *
reload_thread(void *arg)
{
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	for (;;) {
		char err[512];
		int sig = sigwaitinfo(&set, NULL);

		/* Main sets the flag, then sends this thread a SIGHUP. */
		if (__atomic_load_n(&reload_stop, __ATOMIC_ACQUIRE))
			break;
		if (sig != SIGHUP)
			continue;
		if (mp_engine_reload(conf_path, err, sizeof(err)))
			mp_log(LOG_NOTICE, "configuration reloaded from %s", conf_path);
		else
			mp_log(LOG_ERR, "reload failed, keeping the running configuration: %s",
			    err);
	}
	return NULL;
}

static void
usage(FILE *out)
{
	fputs(
"usage: mailposture-milter [-c FILE] [-f] [-t] [-h] [-V]\n"
"\n"
"SPF and DMARC milter for Postfix and Sendmail.\n"
"\n"
"  -c FILE   configuration (default " MP_CONF_DEFAULT_PATH ")\n"
"  -f        stay in the foreground and log to stderr\n"
"  -t        check the configuration and exit (0 valid, 2 invalid)\n"
"  -h        this help\n"
"  -V        print the version\n"
"\n"
"Signals: SIGHUP reloads the configuration (the socket and user stay),\n"
"SIGTERM stops.\n", out);
}

/*
 * The pidfile must be removable on stop by the user the milter runs as
 * by then, and unlinking needs write access to the directory, not to the
 * file: a file written as root in a root-owned directory stayed behind
 * ("Permission denied"). So it is written before the drop (as root,
 * where a start script may look for it at once) and, once the milter
 * runs as its user, written again by that user when that user may write
 * the directory (systemd's /run/mailposture is the service user's).
 * Where that user may not, the root-written file stays, the start log
 * says it will be left behind, and stop does not try.
 */
static bool
pidfile_dir_writable(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return false;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (dir[0] == '\0')
		mp_strlcpy(dir, "/", sizeof(dir));
	if (access(dir, W_OK | X_OK) == 0)
		return true;
	mp_log(LOG_WARNING, "pidfile %s: directory %s is not writable by uid %ld, which will "
	    "not be able to remove the file on stop: use a directory it owns, such as "
	    "/run/mailposture", path, dir, (long)getuid());
	return false;
}

static bool
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	if (path[0] == '\0')
		return true;
	/*
	 * A stale file (or a link planted there) is removed and a new file
	 * created; O_EXCL fails on anything that appears at the path in
	 * between, links included, so we never write through a link.
	 */
	if (unlink(path) != 0 && errno != ENOENT) {
		mp_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
		return false;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		mp_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
		return false;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		mp_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		return false;
	}
	close(fd);
	return true;
}

/* Removes the pidfile if it still names this process: a milter started
 * since (which replaced it) keeps its own. */
static void
remove_pidfile(const char *path)
{
	char buf[32], want[32];
	ssize_t n;
	int fd;

	if (path[0] == '\0')
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			mp_log(LOG_WARNING, "pidfile %s: %s", path, strerror(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	if (n < 0 || (size_t)n != strlen(want) || memcmp(buf, want, (size_t)n) != 0) {
		mp_log(LOG_WARNING, "pidfile %s: names another process, left in place", path);
		return;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		mp_log(LOG_WARNING, "pidfile %s: %s", path, strerror(errno));
}

/* The unix socket path of a "unix:/path" or "local:/path" spec, or NULL. */
static const char *
unix_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	if (spec[0] == '/')
		return spec;
	return NULL;
}

struct ids {
	bool drop;
	uid_t uid;
	gid_t gid;
	const char *user;
};

/* Resolves [milter] user and group; false (logged) on error. */
static bool
resolve_ids(const struct mp_conf *conf, struct ids *ids)
{
	const char *user = mp_conf_str(conf, "milter", "user");
	const char *group = mp_conf_str(conf, "milter", "group");
	struct passwd *pw;
	struct group *gr;

	memset(ids, 0, sizeof(*ids));
	if (geteuid() != 0)
		return true;
	if (user[0] == '\0') {
		if (mp_conf_bool(conf, "milter", "allow_root"))
			return true;
		mp_log(LOG_ERR, "refusing to run as root: set [milter] user "
		    "(or allow_root = yes, which is not recommended)");
		return false;
	}
	pw = getpwnam(user);
	if (pw == NULL) {
		mp_log(LOG_ERR, "[milter] user %s: no such user", user);
		return false;
	}
	if (pw->pw_uid == 0 && !mp_conf_bool(conf, "milter", "allow_root")) {
		mp_log(LOG_ERR, "[milter] user %s is root: refusing (allow_root = no)", user);
		return false;
	}
	ids->drop = true;
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	ids->user = user;
	if (group[0] != '\0') {
		gr = getgrnam(group);
		if (gr == NULL) {
			mp_log(LOG_ERR, "[milter] group %s: no such group", group);
			return false;
		}
		ids->gid = gr->gr_gid;
	}
	return true;
}

static bool
drop_privileges(const struct ids *ids)
{
	if (!ids->drop)
		return true;
	if (setgroups(1, &ids->gid) != 0 || setgid(ids->gid) != 0 || setuid(ids->uid) != 0) {
		mp_log(LOG_ERR, "cannot drop privileges to %s: %s", ids->user, strerror(errno));
		return false;
	}
	if (setuid(0) == 0) {
		mp_log(LOG_ERR, "dropped privileges but could become root again: stopping");
		return false;
	}
	return true;
}

/*
 * libmilter never sets TCP_NODELAY, and at end of message it writes each
 * header change and then the final reply as separate small segments. The
 * MTA does not answer a header change, so with Nagle's algorithm the reply
 * waits for the MTA's delayed ACK: about 40 ms per message on Linux
 * (measured with tests/bench/throughput). libmilter keeps its listening
 * socket to itself, so find it among our descriptors (the only listening
 * TCP socket we have at this point) and set TCP_NODELAY there: Linux
 * hands the option on to every accepted connection.
 */
static void
listener_nodelay(void)
{
	for (int fd = 0; fd < 1024; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int on = 1, listening = 0;
		socklen_t olen = sizeof(listening);

		if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0 || !listening)
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0)
			mp_log(LOG_WARNING, "TCP_NODELAY on the milter socket: %s", strerror(errno));
	}
}

static bool
socket_setup(const struct mp_conf *conf, const struct ids *ids)
{
	const char *spec = mp_conf_str(conf, "milter", "socket");
	const char *path = unix_path(spec);
	const char *mode_s = mp_conf_str(conf, "milter", "socket_mode");
	char *end;
	long mode = 0;
	mode_t old_mask;
	struct stat st;
	int rc;

	if (smfi_setconn((char *)spec) != MI_SUCCESS) {
		mp_log(LOG_ERR, "[milter] socket %s: not a valid milter socket", spec);
		return false;
	}
	if (path != NULL) {
		errno = 0;
		mode = strtol(mode_s, &end, 8);
		if (mode_s[0] == '\0' || *end != '\0' || errno != 0 || mode < 0 ||
		    mode > 0777) {
			mp_log(LOG_ERR, "[milter] socket_mode %s: not an octal mode", mode_s);
			return false;
		}
	}
	/*
	 * The socket is created with its final mode through the umask, not
	 * chmod'ed by path afterwards: the directory may be writable by the
	 * [milter] user, who could swap the path for a link to any file
	 * between bind() and a chmod as root.
	 */
	if (path != NULL) {
		old_mask = umask((mode_t)(~mode & 0777));
		rc = smfi_opensocket(true);
		umask(old_mask);
	} else {
		rc = smfi_opensocket(true);
	}
	if (rc != MI_SUCCESS) {
		mp_log(LOG_ERR, "cannot open milter socket %s", spec);
		return false;
	}
	mp_milter_set_local_socket(path != NULL);
	if (path == NULL) {
		listener_nodelay();
		return true;
	}
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		mp_log(LOG_ERR, "milter socket %s: not a socket after bind", path);
		return false;
	}
	/* A default ACL on the directory overrides the umask: say so. */
	if ((st.st_mode & 0777) != (mode_t)mode)
		mp_log(LOG_WARNING, "milter socket %s: mode %03o, not socket_mode %03lo "
		    "(a default ACL on the directory?)", path, (unsigned)(st.st_mode & 0777),
		    mode);
	/* lchown: a link swapped in changes owner itself, never its target. */
	if (ids->drop && lchown(path, ids->uid, ids->gid) != 0) {
		mp_log(LOG_ERR, "chown %s: %s", path, strerror(errno));
		return false;
	}
	return true;
}

static bool
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		mp_log(LOG_ERR, "fork: %s", strerror(errno));
		return false;
	}
	if (pid > 0)
		_exit(0);
	if (setsid() < 0) {
		mp_log(LOG_ERR, "setsid: %s", strerror(errno));
		return false;
	}
	if (chdir("/") != 0)
		return false;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool foreground = false, test_only = false;
	struct mp_conf *conf;
	struct mp_engine *e;
	struct ids ids;
	pthread_t tid;
	sigset_t set;
	char err[512];
	const char *pidfile;
	bool pid_removable = true;
	int ch, facility, status = 0;

	while ((ch = getopt_long(argc, argv, "c:fthV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 't':
			test_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mailposture-milter %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	mp_log_open("mailposture-milter", true, LOG_MAIL);
	conf = mp_conf_load(conf_path, err, sizeof(err));
	if (conf == NULL) {
		mp_log(LOG_ERR, "%s", err);
		return 2;
	}
	if (test_only) {
		e = mp_engine_build(conf, err, sizeof(err));
		mp_conf_unref(&conf);
		if (e == NULL) {
			mp_log(LOG_ERR, "%s: %s", conf_path, err);
			return 2;
		}
		mp_engine_release(&e);
		printf("%s: configuration OK\n", conf_path);
		return 0;
	}

	facility = mp_log_facility_from_name(mp_conf_str(conf, "log", "facility"));
	mp_log_open("mailposture-milter", foreground, facility >= 0 ? facility : LOG_MAIL);
	mp_milter_apply_log(conf);

	/*
	 * Before any thread exists: every thread (libmilter's, libunbound's,
	 * ours) inherits these blocked, so a signal is only ever taken by a
	 * thread that waits for it.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (!resolve_ids(conf, &ids))
		goto fail_conf;
	if (smfi_register(mp_milter_desc) != MI_SUCCESS) {
		mp_log(LOG_ERR, "smfi_register failed");
		goto fail_conf;
	}
	if (!socket_setup(conf, &ids))
		goto fail_conf;
	/* Fork before any thread starts: threads do not survive fork(). */
	if (!foreground && !daemonize())
		goto fail_conf;
	pidfile = mp_conf_str(conf, "milter", "pidfile");
	if (!write_pidfile(pidfile))
		goto fail_conf;
	if (!drop_privileges(&ids))
		goto fail_pid;
	/* Again, as the user that will remove it (see pidfile_dir_writable). */
	if (ids.drop && pidfile[0] != '\0') {
		pid_removable = pidfile_dir_writable(pidfile);
		if (pid_removable && !write_pidfile(pidfile))
			goto fail_pid;
	}

	e = mp_engine_build(conf, err, sizeof(err));
	if (e == NULL) {
		mp_log(LOG_ERR, "%s: %s", conf_path, err);
		goto fail_pid;
	}
	/* Logged while e is still ours: publishing hands the reference over. */
	mp_log(LOG_NOTICE, "started: socket %s, authserv-id %s%s",
	    mp_conf_str(conf, "milter", "socket"), e->authserv_id,
	    mp_conf_bool(conf, "milter", "dry_run") ? ", dry run" : "");
	mp_engine_publish(e);
	e = NULL;
	if (pthread_create(&tid, NULL, reload_thread, NULL) != 0) {
		mp_log(LOG_ERR, "cannot start the reload thread");
		mp_engine_shutdown();
		goto fail_pid;
	}

	if (smfi_main() != MI_SUCCESS) {
		mp_log(LOG_ERR, "libmilter stopped with an error");
		status = 1;
	} else {
		mp_log(LOG_NOTICE, "stopped");
	}
	/*
	 * No reload from here on: a SIGHUP now would publish a generation
	 * after the shutdown below, or still be building one when main
	 * returns. The flag ends the thread's loop; the SIGHUP sent to it
	 * alone wakes it (or waits, pending, until a reload in progress is
	 * done). mp_engine_shutdown refuses any late publish as well.
	 */
	__atomic_store_n(&reload_stop, true, __ATOMIC_RELEASE);
	/* Fails only when the thread is gone already; join reaps it then. */
	(void)pthread_kill(tid, SIGHUP);
	pthread_join(tid, NULL);
	if (pid_removable)
		remove_pidfile(pidfile);
	mp_engine_shutdown();
	mp_conf_unref(&conf);
	mp_log_close();
	return status;

fail_pid:
	if (pid_removable)
		remove_pidfile(pidfile);
fail_conf:
	mp_conf_unref(&conf);
	return 2;
}
