/*
 * fakedns: the fuzz harnesses' scenario, a message and a tiny zone read
 * from the fuzzer's input, and the fake DNS (mp_dns_set_fake) that
 * serves the zone. The encoding is line-based text so that libFuzzer's
 * mutations (and its dictionary) move between interesting states: a
 * changed letter changes a name, a qualifier or a policy, never the
 * whole layout.
 *
 *   ip 192.0.2.1                 client address (default 192.0.2.1)
 *   helo mx.example.org          HELO name (default mx.example.org)
 *   mail user@example.net        MAIL FROM, the rest of the line
 *                                ("mail" alone: the null sender; absent: too)
 *   hdr From: a@example.com      one header field, "Name: value"; a line
 *                                starting with a space or TAB continues it
 *                                (folded with CRLF)
 *   NAME TYPE DATA               a zone line: TYPE is TXT, SPF, A, AAAA,
 *                                MX ("pref target" or "target"), PTR or
 *                                CNAME; or the pseudo-types NXDOMAIN,
 *                                NODATA, SERVFAIL, TIMEOUT (every query of
 *                                NAME without a record gets that status)
 *
 * A name with no line answers NXDOMAIN, a name with lines of other types
 * NODATA. CNAMEs are followed (up to 8) as a resolver would, and the
 * answer carries canonname. Bounds: FZ_MAX_LINES lines, FZ_MAX_HDR
 * header fields; the rest is ignored.
 */
#ifndef MP_FUZZ_FAKEDNS_H
#define MP_FUZZ_FAKEDNS_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "verdict.h"

#define FZ_MAX_LINES 256
#define FZ_MAX_HDR   32

struct fz_rr {
	char *name;                 /* lowercase, no trailing dot */
	int type;                   /* enum mp_dns_type, or a FZ_ST_* pseudo-type */
	char *data;                 /* the rest of the line */
	size_t data_len;
};

#define FZ_ST_NXDOMAIN  -1
#define FZ_ST_NODATA    -2
#define FZ_ST_SERVFAIL  -3
#define FZ_ST_TIMEOUT   -4

struct fz_scenario {
	char *ip, *helo, *mail;
	struct mp_header hdr[FZ_MAX_HDR];
	size_t nhdr;
	struct fz_rr rr[FZ_MAX_LINES];
	size_t nrr;
	unsigned long queries;      /* answered by the fake, for the bound below */
};

/* Reads data[0..size) into sc (zeroed first). Never fails: lines that
 * mean nothing are skipped. */
void fz_scenario_read(struct fz_scenario *sc, const uint8_t *data, size_t size);
void fz_scenario_free(struct fz_scenario *sc);

/* The mp_dns_fake_fn over a scenario (arg is the struct fz_scenario). */
struct mp_dns_result *fz_fake_dns(void *arg, const char *name, enum mp_dns_type type);
/* A resolver whose every query the fake answers from sc (the upstream is
 * a closed loopback port: nothing could leave even past the fake). */
struct mp_dns *fz_dns_open(struct fz_scenario *sc);

/* A NUL-terminated copy of the fuzzer's input (caller frees). */
char *fz_strndup(const uint8_t *data, size_t size);

/* The organizational domain under the harness's own PSL (psl.dat: com,
 * net, org, example): the last two labels, lowercased, a trailing dot
 * ignored. "" for a name of fewer than two labels. Written apart from
 * policy/domain.c on purpose: the oracle must not share the code it
 * checks. */
void fz_org_domain(const char *name, char out[MP_DOMAIN_MAX]);

#endif
