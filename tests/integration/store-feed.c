/*
 * store-feed: writes verdicts through policy/store (the writer thread
 * and the script, as the milter does) for the report tests. One record
 * per input line, as key=value words:
 *   domain=a.example.com org=example.com qid=Q1 ip=192.0.2.1 spf=pass
 *   dmarc=pass sa=1 da=0 dispo=reject action=accept published=reject
 *   score=85 grade=A- ago=3600 host=mx1.example.org
 * Missing keys take harmless defaults. Prints "written N duplicates N".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "util.h"

static int
word(const char *v, const char *(*str)(int), int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(str(i), v) == 0)
			return i;
	fprintf(stderr, "store-feed: unknown result '%s'\n", v);
	exit(2);
}

static const char *spf_s(int i) { return mp_spf_result_str((enum mp_spf_result)i); }
static const char *dmarc_s(int i) { return mp_dmarc_result_str((enum mp_dmarc_result)i); }
static const char *pol_s(int i) { return mp_dmarc_policy_str((enum mp_dmarc_policy)i); }
static const char *act_s(int i) { return mp_action_str((enum mp_action)i); }

int
main(int argc, char **argv)
{
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_stats st;
	char line[4096], err[512];
	time_t now = time(NULL);

	if (argc != 3 || strcmp(argv[1], "--redis") != 0) {
		fprintf(stderr, "usage: store-feed --redis ADDR < records\n");
		return 2;
	}
	mp_log_open("store-feed", true, 0);
	mp_store_options_defaults(&o);
	mp_strlcpy(o.address, argv[2], sizeof(o.address));
	if ((s = mp_store_new(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store-feed: %s\n", err);
		return 2;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		struct mp_store_record r;
		char *save = NULL;

		mp_store_record_init(&r);
		mp_strlcpy(r.host, "mx1.example.org", sizeof(r.host));
		mp_strlcpy(r.helo, "mail.example.net", sizeof(r.helo));
		r.time = now;
		for (char *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
			char *v = strchr(w, '=');

			if (v == NULL)
				continue;
			*v++ = '\0';
			if (strcmp(w, "domain") == 0)
				mp_strlcpy(r.from_domain, v, sizeof(r.from_domain));
			else if (strcmp(w, "org") == 0)
				mp_strlcpy(r.org_domain, v, sizeof(r.org_domain));
			else if (strcmp(w, "qid") == 0)
				mp_strlcpy(r.queue_id, v, sizeof(r.queue_id));
			else if (strcmp(w, "host") == 0)
				mp_strlcpy(r.host, v, sizeof(r.host));
			else if (strcmp(w, "ip") == 0)
				mp_strlcpy(r.ip, v, sizeof(r.ip));
			else if (strcmp(w, "spf") == 0)
				r.spf = word(v, spf_s, MP_SPF_PERMERROR + 1);
			else if (strcmp(w, "dmarc") == 0)
				r.dmarc = word(v, dmarc_s, MP_DMARC_PERMERROR + 1);
			else if (strcmp(w, "sa") == 0)
				r.spf_aligned = strcmp(v, "1") == 0;
			else if (strcmp(w, "da") == 0)
				r.dkim_aligned = strcmp(v, "1") == 0;
			else if (strcmp(w, "dispo") == 0)
				r.disposition = word(v, pol_s, MP_DMARC_P_REJECT + 1);
			else if (strcmp(w, "published") == 0)
				r.published = r.policy = word(v, pol_s, MP_DMARC_P_REJECT + 1);
			else if (strcmp(w, "action") == 0)
				r.action = word(v, act_s, MP_ACTION_TEMPFAIL + 1);
			else if (strcmp(w, "score") == 0)
				r.posture_score = atoi(v);
			else if (strcmp(w, "grade") == 0)
				mp_strlcpy(r.posture_grade, v, sizeof(r.posture_grade));
			else if (strcmp(w, "ago") == 0)
				r.time = now - atol(v);
			else if (strcmp(w, "mailfrom") == 0)
				mp_strlcpy(r.mail_from, v, sizeof(r.mail_from));
		}
		if (r.queue_id[0] == '\0')
			continue;
		mp_store_submit(s, &r);
	}
	if (!mp_store_flush(s, 20000)) {
		fprintf(stderr, "store-feed: not all written\n");
		return 1;
	}
	mp_store_get_stats(s, &st);
	printf("written %llu duplicates %llu failed %llu\n", (unsigned long long)st.written,
	    (unsigned long long)st.duplicates, (unsigned long long)st.failed);
	mp_store_free(&s);
	return st.failed == 0 ? 0 : 1;
}
