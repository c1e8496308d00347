/*
 * dns-probe: one lookup through policy/dns.c, printed on one line, for
 * the DNSSEC integration test:
 *   dns-probe RESOLVER TRUST-ANCHOR-FILE NAME TYPE
 *   -> "<status> secure=<0|1> bogus=<0|1> count=<n> [first answer]"
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dns.h"

int
main(int argc, char **argv)
{
	struct mp_dns_options o = { 0 };
	struct mp_dns *dns;
	struct mp_dns_result *r;
	enum mp_dns_type type;
	char err[256];

	if (argc != 5) {
		fprintf(stderr, "usage: dns-probe RESOLVER TRUST-ANCHOR-FILE NAME A|TXT\n");
		return 2;
	}
	type = strcmp(argv[4], "TXT") == 0 ? MP_DNS_TXT : MP_DNS_A;
	o.upstream = argv[1];
	o.timeout_ms = 3000;
	o.trust_anchor_file = argv[2][0] ? argv[2] : NULL;
	dns = mp_dns_new(&o, err, sizeof(err));
	if (dns == NULL) {
		fprintf(stderr, "dns-probe: %s\n", err);
		return 2;
	}
	r = mp_dns_query(dns, NULL, argv[3], type);
	printf("%s secure=%d bogus=%d count=%zu %s\n", mp_dns_status_str(r->status), r->secure,
	    r->bogus, r->count, r->count ? r->rr[0].text : "");
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
	return 0;
}
