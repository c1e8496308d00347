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
 * Exit status, as in the other programs: 0 clean stop (with -t: the
 * configuration is valid); 1 runtime failure (the socket cannot be
 * opened, the process cannot detach, write its pidfile or drop its
 * privileges, libmilter stops with an error); 2 usage or configuration
 * error (a [milter] user or group that does not exist and running as root
 * without allow_root are configuration errors).
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
#include "metrics.h"
#include "metrics_http.h"
#include "milter.h"
#include "netaddr.h"
#include "util.h"

#define EXIT_RUNTIME 1          /* a failure at run time */
#define EXIT_USAGE 2            /* usage or configuration error */

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
		if (mp_engine_reload(conf_path, err, sizeof(err))) {
			mp_log(LOG_NOTICE, "configuration reloaded from %s", conf_path);
			mp_metrics_inc(MP_M_RELOAD_OK);
			mp_metrics_http_reconfigure();
		} else {
			mp_log(LOG_ERR, "reload failed, keeping the running configuration: %s",
			    err);
			mp_metrics_inc(MP_M_RELOAD_FAILED);
		}
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
"SIGTERM stops.\n"
"\n"
"Exit status: 0 stopped, 1 runtime failure, 2 usage or configuration error.\n", out);
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

/*
 * After bind: the path must be the socket, with socket_mode, owned by
 * the user the milter becomes.
 */
static bool
unix_socket_check(const char *path, mode_t mode, const struct ids *ids)
{
	struct stat st;

	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		mp_log(LOG_ERR, "milter socket %s: not a socket after bind", path);
		return false;
	}
	/* A default ACL on the directory overrides the umask: say so. */
	if ((st.st_mode & 0777) != mode)
		mp_log(LOG_WARNING, "milter socket %s: mode %03o, not socket_mode %03o "
		    "(a default ACL on the directory?)", path, (unsigned)(st.st_mode & 0777),
		    (unsigned)mode);
	/* lchown: a link swapped in changes owner itself, never its target. */
	if (ids->drop && lchown(path, ids->uid, ids->gid) != 0) {
		mp_log(LOG_ERR, "chown %s: %s", path, strerror(errno));
		return false;
	}
	return true;
}

/* Opens [milter] socket; EXIT_SUCCESS or the exit status. */
static int
socket_setup(const struct mp_conf *conf, const struct ids *ids)
{
	const char *spec = mp_conf_str(conf, "milter", "socket");
	struct mp_endpoint ep;
	mode_t mode = 0, old_mask;
	char why[256];
	int rc;

	if (!mp_endpoint_parse_milter(spec, 0, &ep, why, sizeof(why))) {
		mp_log(LOG_ERR, "[milter] socket %s: %s", spec, why);
		return EXIT_USAGE;
	}
	if (smfi_setconn((char *)spec) != MI_SUCCESS) {
		mp_log(LOG_ERR, "[milter] socket %s: not a valid milter socket", spec);
		return EXIT_USAGE;
	}
	/*
	 * The socket is created with its final mode through the umask, not
	 * chmod'ed by path afterwards: the directory may be writable by the
	 * [milter] user, who could swap the path for a link to any file
	 * between bind() and a chmod as root.
	 */
	if (ep.is_unix) {
		/* conf took it only as octal 0000..0777. */
		mode = (mode_t)strtoul(mp_conf_str(conf, "milter", "socket_mode"), NULL, 8);
		old_mask = umask(~mode & 0777);
		rc = smfi_opensocket(true);
		umask(old_mask);
	} else {
		rc = smfi_opensocket(true);
	}
	if (rc != MI_SUCCESS) {
		mp_log(LOG_ERR, "cannot open milter socket %s", spec);
		return EXIT_RUNTIME;
	}
	mp_milter_set_local_socket(ep.is_unix);
	if (!ep.is_unix) {
		listener_nodelay();
		return EXIT_SUCCESS;
	}
	return unix_socket_check(ep.host, mode, ids) ? EXIT_SUCCESS : EXIT_RUNTIME;
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

/* One run of the daemon, from the command line to the stop. */
struct run {
	bool foreground, test_only;
	struct mp_conf *conf;
	struct ids ids;
	const char *pidfile;
	bool pid_written;       /* by us, at start */
	bool pid_removable;     /* by the user we run as at stop */
	bool published;         /* an engine serves: shut it down at stop */
};

/* -1 to go on, else the exit status. */
static int
parse_args(int argc, char **argv, struct run *r)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:fthV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			r->foreground = true;
			break;
		case 't':
			r->test_only = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("mailposture-milter %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/* -t: the configuration builds an engine (skip lists, resolver, PSL,
 * Redis password), which is then dropped. */
static int
test_config(struct mp_conf **confp)
{
	struct mp_engine *e;
	char err[512];

	e = mp_engine_build(*confp, err, sizeof(err));
	mp_conf_unref(confp);
	if (e == NULL) {
		mp_log(LOG_ERR, "%s: %s", conf_path, err);
		return EXIT_USAGE;
	}
	mp_engine_release(&e);
	printf("%s: configuration OK\n", conf_path);
	return EXIT_SUCCESS;
}

/*
 * Before any thread exists: every thread (libmilter's, libunbound's,
 * ours) inherits these blocked, so a signal is only ever taken by a
 * thread that waits for it.
 */
static void
block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Everything as root, up to running as [milter] user with the socket
 * open and the pidfile written. EXIT_SUCCESS or the exit status. */
static int
start(struct run *r)
{
	int status;

	block_signals();
	if (!resolve_ids(r->conf, &r->ids))
		return EXIT_USAGE;
	if (smfi_register(mp_milter_desc) != MI_SUCCESS) {
		mp_log(LOG_ERR, "smfi_register failed");
		return EXIT_RUNTIME;
	}
	if ((status = socket_setup(r->conf, &r->ids)) != EXIT_SUCCESS)
		return status;
	/* Fork before any thread starts: threads do not survive fork(). */
	if (!r->foreground && !daemonize())
		return EXIT_RUNTIME;
	r->pidfile = mp_conf_str(r->conf, "milter", "pidfile");
	if (!write_pidfile(r->pidfile))
		return EXIT_RUNTIME;
	r->pid_written = true;
	if (!drop_privileges(&r->ids))
		return EXIT_RUNTIME;
	/* Again, as the user that will remove it (see pidfile_dir_writable). */
	if (r->ids.drop && r->pidfile[0] != '\0') {
		r->pid_removable = pidfile_dir_writable(r->pidfile);
		if (r->pid_removable && !write_pidfile(r->pidfile))
			return EXIT_RUNTIME;
	}
	return EXIT_SUCCESS;
}

/*
 * No reload from here on: a SIGHUP now would publish a generation after
 * the shutdown, or still be building one when main returns. The flag
 * ends the thread's loop; the SIGHUP sent to it alone wakes it (or
 * waits, pending, until a reload in progress is done). mp_engine_shutdown
 * refuses any late publish as well.
 */
static void
stop_reload(pthread_t tid)
{
	__atomic_store_n(&reload_stop, true, __ATOMIC_RELEASE);
	/* Fails only when the thread is gone already; join reaps it then. */
	(void)pthread_kill(tid, SIGHUP);
	pthread_join(tid, NULL);
}

/* Builds and publishes the engine, and serves until a stop. */
static int
serve(struct run *r)
{
	struct mp_engine *e;
	char err[512];
	pthread_t tid;
	int status = EXIT_SUCCESS;

	if ((e = mp_engine_build(r->conf, err, sizeof(err))) == NULL) {
		mp_log(LOG_ERR, "%s: %s", conf_path, err);
		return EXIT_USAGE;
	}
	/* A listener that cannot be had is said at start, not found later. */
	if (!mp_metrics_http_configure(mp_conf_str(r->conf, "metrics", "listen"), err,
	    sizeof(err))) {
		mp_log(LOG_ERR, "%s", err);
		mp_engine_release(&e);
		return EXIT_RUNTIME;
	}
	/* Logged while e is still ours: publishing hands the reference over. */
	mp_log(LOG_NOTICE, "started: socket %s, authserv-id %s%s",
	    mp_conf_str(r->conf, "milter", "socket"), e->authserv_id,
	    mp_conf_bool(r->conf, "milter", "dry_run") ? ", dry run" : "");
	mp_engine_publish(e);
	r->published = true;
	if (pthread_create(&tid, NULL, reload_thread, NULL) != 0) {
		mp_log(LOG_ERR, "cannot start the reload thread");
		return EXIT_RUNTIME;
	}
	if (smfi_main() != MI_SUCCESS) {
		mp_log(LOG_ERR, "libmilter stopped with an error");
		status = EXIT_RUNTIME;
	} else {
		mp_log(LOG_NOTICE, "stopped");
	}
	stop_reload(tid);
	return status;
}

int
main(int argc, char **argv)
{
	struct run r = { .pid_removable = true };
	char err[512];
	int status, facility;

	if ((status = parse_args(argc, argv, &r)) >= 0)
		return status;
	mp_log_open("mailposture-milter", true, LOG_MAIL);
	if ((r.conf = mp_conf_load(conf_path, err, sizeof(err))) == NULL) {
		mp_log(LOG_ERR, "%s", err);
		return EXIT_USAGE;
	}
	if (r.test_only)
		return test_config(&r.conf);
	facility = mp_log_facility_from_name(mp_conf_str(r.conf, "log", "facility"));
	mp_log_open("mailposture-milter", r.foreground, facility >= 0 ? facility : LOG_MAIL);
	mp_milter_apply_log(r.conf);

	if ((status = start(&r)) == EXIT_SUCCESS)
		status = serve(&r);
	if (r.pid_written && r.pid_removable)
		remove_pidfile(r.pidfile);
	mp_metrics_http_stop();
	if (r.published)
		mp_engine_shutdown();
	mp_conf_unref(&r.conf);
	mp_log_close();
	return status;
}
