/*
 * metrics_http: libmicrohttpd with its own polling thread, on a socket
 * we bind ourselves: so that a failure says why (address in use, no
 * permission) and so that SO_REUSEADDR lets a restarted milter bind at
 * once. Every request is answered from that thread: the exposition is
 * built from the atomic counters, plus the current store's queue depth
 * read through an engine reference.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "milter.h"
#include "netaddr.h"
#include "util.h"

#define LISTEN_MAX 300          /* "[v6]:port" and then some */
#define CONN_LIMIT 8            /* scrapers at once: Prometheus is one */
#define CONN_TIMEOUT_S 10

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

/* Guards the listener: main starts and stops it, the reload thread moves it. */
static pthread_mutex_t http_mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *daemon_cur;
static char listen_cur[LISTEN_MAX];

static void
http_log(void *arg, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)arg;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	mp_log(LOG_WARNING, "metrics listener: %s", buf);
}

/* The queue depth of the current generation's store; 0 without one. */
static void
gauges(struct mp_metrics_gauges *g)
{
	struct mp_engine *e = mp_engine_acquire();

	memset(g, 0, sizeof(*g));
	if (e != NULL && e->store != NULL) {
		struct mp_store_stats st;

		mp_store_get_stats(e->store, &st);
		g->redis_queue_depth = st.queued;
	}
	/* Not a libmilter worker: freeing a replaced generation may wait here. */
	mp_engine_release(&e);
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *body,
    size_t len, bool allow)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
handle(void *arg, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_len, void **state)
{
	static const char not_found[] = "not found: the metrics are at /metrics\n";
	static const char not_allowed[] = "method not allowed: use GET\n";
	struct mp_metrics_gauges g;
	struct mp_buf b = MP_BUF_INIT;
	enum MHD_Result rc;

	(void)arg;
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
		    sizeof(not_allowed) - 1, true);
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
		    sizeof(not_found) - 1, false);
	gauges(&g);
	mp_metrics_write(&b, &g);
	rc = reply(conn, MHD_HTTP_OK, content_type, mp_buf_str(&b), b.len, false);
	mp_buf_free(&b);
	return rc;
}

/* A listening socket on addr, an address (no name: nothing to
 * resolve at start or reload); -1 + err. */
static int
bind_listen(const char *addr, bool *v6_r, char *err, size_t errlen)
{
	struct mp_endpoint ep;
	struct sockaddr_storage ss;
	socklen_t len;
	char why[256];
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	memset(&ep, 0, sizeof(ep));
	if (!mp_endpoint_parse_hostport(addr, &ep, why, sizeof(why))) {
		mp_setf(err, errlen, "[metrics] listen %s: %s", addr, why);
		return -1;
	}
	if (ep.family != AF_INET && ep.family != AF_INET6) {
		mp_setf(err, errlen, "[metrics] listen %s: expected ADDRESS:PORT or "
		    "[IPV6-ADDRESS]:PORT", addr);
		return -1;
	}
	if (ep.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)ep.port);
		(void)inet_pton(AF_INET, ep.host, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)ep.port);
		(void)inet_pton(AF_INET6, ep.host, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}
	*v6_r = ep.family == AF_INET6;
	if ((fd = socket(ep.family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		mp_setf(err, errlen, "[metrics] listen %s: socket: %s", addr, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (*v6_r)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
		mp_setf(err, errlen, "[metrics] listen %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static struct MHD_Daemon *
start(const char *addr, char *err, size_t errlen)
{
	struct MHD_Daemon *d;
	bool v6 = false;
	int fd;

	if ((fd = bind_listen(addr, &v6, err, errlen)) < 0)
		return NULL;
	d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	    (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, handle, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
	    MHD_OPTION_END);
	if (d == NULL) {
		mp_setf(err, errlen, "[metrics] listen %s: libmicrohttpd did not start", addr);
		close(fd);
	}
	return d;
}

/* Under http_mu: serves addr instead of what is served now. */
static bool
move(const char *addr, char *err, size_t errlen)
{
	struct MHD_Daemon *d = start(addr, err, errlen);

	if (d == NULL && daemon_cur != NULL) {
		/* The old socket may hold the port (0.0.0.0 after 127.0.0.1):
		 * let it go, try again, and take it back if that fails. */
		MHD_stop_daemon(daemon_cur);
		daemon_cur = NULL;
		if ((d = start(addr, err, errlen)) == NULL) {
			if ((daemon_cur = start(listen_cur, NULL, 0)) == NULL)
				listen_cur[0] = '\0';
			return false;
		}
	}
	if (d == NULL)
		return false;
	if (daemon_cur != NULL)
		MHD_stop_daemon(daemon_cur);
	daemon_cur = d;
	mp_strlcpy(listen_cur, addr, sizeof(listen_cur));
	mp_log(LOG_NOTICE, "metrics: serving http://%s/metrics", addr);
	return true;
}

bool
mp_metrics_http_configure(const char *addr, char *err, size_t errlen)
{
	char why[512];
	bool ok = true;

	pthread_mutex_lock(&http_mu);
	if (strcmp(addr, listen_cur) == 0 && (daemon_cur != NULL || addr[0] == '\0')) {
		/* Unchanged: the listener and its connections stay. */
	} else if (addr[0] == '\0') {
		if (daemon_cur != NULL)
			MHD_stop_daemon(daemon_cur);
		daemon_cur = NULL;
		listen_cur[0] = '\0';
		mp_log(LOG_NOTICE, "metrics: listener stopped ([metrics] listen is empty)");
	} else if (strlen(addr) >= sizeof(listen_cur)) {
		mp_setf(err, errlen, "[metrics] listen: too long");
		ok = false;
	} else if (!move(addr, why, sizeof(why))) {
		mp_setf(err, errlen, "%s (%s%s)", why,
		    listen_cur[0] ? "still serving " : "not serving", listen_cur);
		ok = false;
	}
	pthread_mutex_unlock(&http_mu);
	return ok;
}

void
mp_metrics_http_reconfigure(void)
{
	struct mp_engine *e = mp_engine_acquire();
	char err[512];

	if (e == NULL)
		return;
	if (!mp_metrics_http_configure(mp_conf_str(e->conf, "metrics", "listen"), err,
	    sizeof(err)))
		mp_log(LOG_ERR, "%s", err);
	mp_engine_release(&e);
}

void
mp_metrics_http_stop(void)
{
	pthread_mutex_lock(&http_mu);
	if (daemon_cur != NULL)
		MHD_stop_daemon(daemon_cur);
	daemon_cur = NULL;
	listen_cur[0] = '\0';
	pthread_mutex_unlock(&http_mu);
}
