/*
 * metrics_http: the [metrics] listen HTTP listener, over libmicrohttpd.
 * It serves GET /metrics (policy/metrics.h, the Prometheus text format)
 * from a thread of its own, so a scrape never runs on a libmilter
 * worker and a slow scraper never holds up mail. No authentication:
 * listen on loopback, or put a proxy with TLS and authentication, or a
 * firewall, in front (README "Metrics").
 *
 * One listener per process. Across a SIGHUP it is kept when listen is
 * unchanged (scrapes go on, counters are process-wide anyway), moved
 * when it changed (the new address is bound first; when it cannot be,
 * the old one stays and the error is logged), and stopped when listen
 * became empty. The milter binds it after dropping privileges: the port
 * must be one its user may bind (1024 or above).
 */
#ifndef MP_METRICS_HTTP_H
#define MP_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Makes the listener serve addr ("ADDRESS:PORT", "[IPV6]:PORT"; ""
 * none). False + err when addr could not be served: whatever served
 * before still does. */
bool mp_metrics_http_configure(const char *addr, char *err, size_t errlen);

/* The same for the configuration just published (after a reload);
 * failures are logged. */
void mp_metrics_http_reconfigure(void);

/* Stops the listener, after any scrape in progress. */
void mp_metrics_http_stop(void);

#endif
