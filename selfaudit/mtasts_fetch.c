/*
 * mtasts_fetch: the MTA-STS policy over HTTPS with libcurl. The host
 * name is resolved by our resolver, not libcurl's: the report must
 * describe what the configured DNS serves (the tests' DNS too), and a
 * resolver that fails says "could not check", never "no policy".
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "audit.h"
#include "mtasts.h"

#define STS_MAX_ADDRS   8

void
audit_sts_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The A and AAAA records of host as libcurl's RESOLVE list ("a,[b]") in out->addrs. */
static void
resolve(struct mp_dns *dns, const struct mp_deadline *dl, const char *host,
    struct audit_sts_fetch *out)
{
	static const enum mp_dns_type types[] = { MP_DNS_A, MP_DNS_AAAA };
	struct mp_buf list = MP_BUF_INIT;
	size_t n = 0;
	bool temp = false;

	for (size_t t = 0; t < MP_ARRAY_SIZE(types); t++) {
		struct mp_dns_result *r = mp_dns_query(dns, dl, host, types[t]);

		if (mp_dns_status_is_temp(r->status)) {
			temp = true;
			snprintf(out->error, sizeof(out->error), "%s %s: %s", host,
			    types[t] == MP_DNS_A ? "A" : "AAAA", mp_dns_status_str(r->status));
		}
		for (size_t i = 0; r->status == MP_DNS_OK && i < r->count && n < STS_MAX_ADDRS; i++) {
			if (r->rr[i].type != types[t])
				continue;
			if (list.len > 0)
				mp_buf_putc(&list, ',');
			mp_buf_printf(&list, types[t] == MP_DNS_AAAA ? "[%s]" : "%s", r->rr[i].text);
			n++;
		}
		mp_dns_result_free(&r);
	}
	mp_strlcpy(out->addrs, mp_buf_str(&list), sizeof(out->addrs));
	mp_buf_free(&list);
	if (n > 0)
		return;
	/* One family failing while the other has no address is still unknown. */
	out->status = temp ? STS_FETCH_DNS_TEMP : STS_FETCH_NO_ADDRESS;
	if (!temp)
		snprintf(out->error, sizeof(out->error), "%s has no A or AAAA record", host);
}

struct sink {
	struct mp_buf body;
	bool too_big;
};

static size_t
sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->body.len + n > STS_BODY_MAX) {
		s->too_big = true;
		return 0;
	}
	mp_buf_append(&s->body, data, n);
	return n;
}

static void
set_error(char *dst, size_t dstlen, const char *errbuf, CURLcode rc)
{
	const char *e = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	audit_printable(dst, dstlen, e, strlen(e), MP_SHOW_REASON);
}

/* One GET; the body into s, the HTTP status and Content-Type into out. */
static CURLcode
get_once(struct audit_sts_fetch *out, struct curl_slist *res, const char *ca_file, bool verify,
    const struct mp_deadline *dl, struct sink *s, char *errbuf)
{
	CURL *c = curl_easy_init();
	long left = (long)mp_deadline_left(dl);
	char *ct = NULL;
	CURLcode rc;

	if (c == NULL)
		return CURLE_FAILED_INIT;
	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, out->url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, res);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)STS_BODY_MAX);
	curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "-audit/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (ca_file != NULL && *ca_file != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->http_code);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
		audit_printable(out->content_type, sizeof(out->content_type), ct, strlen(ct),
		    MP_SHOW_TOKEN);
	curl_easy_cleanup(c);
	return rc;
}

/* The fetch's verdict once a GET has ended with rc. */
static void
fetch_result(struct audit_sts_fetch *out, CURLcode rc, struct sink *s, const char *errbuf)
{
	if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		out->status = STS_FETCH_FAILED;
		snprintf(out->error, sizeof(out->error), "the policy is over %d bytes", STS_BODY_MAX);
	} else if (rc != CURLE_OK) {
		out->status = STS_FETCH_FAILED;
		set_error(out->error, sizeof(out->error), errbuf, rc);
	} else if (out->http_code != 200) {
		out->status = STS_FETCH_FAILED;
		snprintf(out->error, sizeof(out->error), "HTTP status %ld%s", out->http_code,
		    out->http_code / 100 == 3 ? ": senders do not follow redirects (RFC 8461 3.3)" : "");
	} else {
		out->status = STS_FETCH_OK;
		out->len = s->body.len;
		out->body = mp_buf_steal(&s->body);
		if (out->body == NULL)
			out->body = xstrdup("");
	}
}

void
audit_sts_fetch(struct mp_dns *dns, const struct mp_deadline *dl, const char *domain,
    const char *ca_file, struct audit_sts_fetch *out)
{
	char host[MP_DOMAIN_MAX + 16], errbuf[CURL_ERROR_SIZE];
	struct curl_slist *res;
	struct sink s = { MP_BUF_INIT, false };
	CURLcode rc;
	char *entry;

	memset(out, 0, sizeof(*out));
	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	snprintf(out->url, sizeof(out->url), "https://%s/.well-known/mta-sts.txt", host);
	resolve(dns, dl, host, out);
	if (out->status != STS_FETCH_NOT_TRIED)
		return;
	entry = xasprintf("%s:443:%s", host, out->addrs);
	res = curl_slist_append(NULL, entry);
	free(entry);
	rc = get_once(out, res, ca_file, true, dl, &s, errbuf);
	out->cert_ok = rc != CURLE_PEER_FAILED_VERIFICATION;
	if (!out->cert_ok) {
		/* Read it anyway: the report judges the policy as well as the certificate. */
		set_error(out->cert_error, sizeof(out->cert_error), errbuf, rc);
		mp_buf_reset(&s.body);
		rc = get_once(out, res, ca_file, false, dl, &s, errbuf);
	}
	fetch_result(out, rc, &s, errbuf);
	mp_buf_free(&s.body);
	curl_slist_free_all(res);
}

void
audit_sts_fetch_free(struct audit_sts_fetch *f)
{
	free(f->body);
	f->body = NULL;
	f->len = 0;
}
