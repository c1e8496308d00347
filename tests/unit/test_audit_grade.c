/*
 * The audit rubric: weights, NOT TESTED out of both sides, caps, letters,
 * the JSON rendering of the same data, and the manual page's weight table.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "check_main.h"

static struct audit_report *
all(enum audit_status st)
{
	struct audit_report *r = malloc(sizeof(*r));

	ck_assert_ptr_nonnull(r);
	audit_report_init(r);
	for (int i = 0; i < CHK_COUNT; i++)
		audit_set(r, (enum audit_check_id)i, st, "set");
	return r;
}

static void
done(struct audit_report *r)
{
	audit_report_clear(r);
	free(r);
}

START_TEST(letters)
{
	static const struct { int score; const char *letter; } t[] = {
		{ 100, "A+" }, { 99, "A" }, { 90, "A" }, { 89, "A-" }, { 85, "A-" }, { 84, "B+" },
		{ 80, "B+" }, { 70, "B" }, { 65, "B-" }, { 60, "C+" }, { 50, "C" }, { 45, "C-" },
		{ 40, "D+" }, { 30, "D" }, { 25, "D-" }, { 24, "F" }, { 0, "F" },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++)
		ck_assert_str_eq(audit_letter(t[i].score), t[i].letter);
	ck_assert_int_eq(audit_grade_rank("A+"), 0);
	ck_assert_int_eq(audit_grade_rank("c"), 7);
	ck_assert_int_eq(audit_grade_rank("F"), 12);
	ck_assert_int_eq(audit_grade_rank("E"), -1);
	ck_assert_int_eq(audit_grade_rank(""), -1);
	ck_assert_int_eq(audit_grade_rank("A++"), -1);
}
END_TEST

START_TEST(weights_and_not_tested)
{
	struct audit_report *r = all(AUDIT_PASS);
	int total = 0;

	audit_grade(r);
	ck_assert_int_eq(r->score, 100);
	ck_assert_str_eq(r->grade, "A+");
	ck_assert_ptr_null(r->cap_reason);

	/* One FAIL of weight w out of the total. */
	for (int i = 0; i < CHK_COUNT; i++)
		total += audit_defs[i].weight;
	audit_set(r, CHK_VRFY, AUDIT_FAIL, "x");
	audit_grade(r);
	ck_assert_int_eq(r->score, (int)(100.0 * (total - audit_defs[CHK_VRFY].weight) / total));
	/* WARN counts half. */
	audit_set(r, CHK_VRFY, AUDIT_WARN, "x");
	audit_grade(r);
	ck_assert(r->earned == total - audit_defs[CHK_VRFY].weight / 2.0);
	/* NOT TESTED leaves both sides: back to 100. */
	audit_set(r, CHK_VRFY, AUDIT_NOT_TESTED, "x");
	audit_grade(r);
	ck_assert_int_eq(r->score, 100);
	ck_assert(r->possible == total - audit_defs[CHK_VRFY].weight);
	done(r);

	/* Nothing scored: no grade at all, not an F. */
	r = all(AUDIT_NOT_TESTED);
	audit_grade(r);
	ck_assert_int_eq(r->score, -1);
	ck_assert_str_eq(r->grade, "?");
	done(r);
}
END_TEST

START_TEST(caps)
{
	struct audit_report *r = all(AUDIT_PASS);

	audit_set(r, CHK_AUTH, AUDIT_FAIL, "plaintext AUTH before STARTTLS");
	r->check[CHK_AUTH].cap = CAP_C;
	audit_grade(r);
	ck_assert_int_gt(r->score, 80);
	ck_assert_str_eq(r->grade, "C");
	ck_assert_ptr_nonnull(strstr(r->cap_reason, "AUTH"));

	audit_set(r, CHK_DNSBL, AUDIT_FAIL, "listed");
	r->check[CHK_DNSBL].cap = CAP_D;
	audit_grade(r);
	ck_assert_str_eq(r->grade, "D");

	audit_set(r, CHK_RELAY, AUDIT_FAIL, "open relay");
	r->check[CHK_RELAY].cap = CAP_F;
	audit_grade(r);
	ck_assert_str_eq(r->grade, "F");
	ck_assert_ptr_nonnull(strstr(r->cap_reason, "open relay"));

	/* A cap only applies to a FAIL. */
	audit_set(r, CHK_RELAY, AUDIT_NOT_TESTED, "trusted source");
	audit_set(r, CHK_DNSBL, AUDIT_PASS, "clean");
	audit_grade(r);
	ck_assert_str_eq(r->grade, "C");
	done(r);

	/* A cap never raises a grade that is already lower. */
	r = all(AUDIT_FAIL);
	audit_set(r, CHK_AUTH, AUDIT_FAIL, "x");
	r->check[CHK_AUTH].cap = CAP_C;
	audit_grade(r);
	ck_assert_str_eq(r->grade, "F");
	ck_assert_ptr_null(r->cap_reason);
	done(r);
}
END_TEST

/* The caps come from the table: audit_cap gives a FAIL its row's cap and reason. */
START_TEST(caps_from_table)
{
	struct audit_report *r = all(AUDIT_PASS);

	audit_set(r, CHK_DANE_MATCH, AUDIT_FAIL, "TLSA matches nothing");
	audit_cap(r, CHK_DANE_MATCH);
	audit_grade(r);
	ck_assert_str_eq(r->grade, "D");
	ck_assert_ptr_nonnull(strstr(r->cap_reason, "TLSA"));
	/* A worse cap wins, whatever the order of the checks. */
	audit_set(r, CHK_POSTCONF, AUDIT_FAIL, "mynetworks 0.0.0.0/0");
	audit_cap(r, CHK_POSTCONF);
	audit_grade(r);
	ck_assert_str_eq(r->grade, "F");
	ck_assert_ptr_nonnull(strstr(r->cap_reason, "open relay"));
	done(r);
	/* Only the checks whose FAIL can cap have a reason. */
	for (int i = 0; i < CHK_COUNT; i++)
		ck_assert((audit_defs[i].cap == CAP_NONE) == (audit_defs[i].cap_why == NULL));
}
END_TEST

START_TEST(findings_are_printable)
{
	struct audit_report *r = all(AUDIT_PASS);

	audit_set(r, CHK_BANNER, AUDIT_WARN, "peer said %s", "evil\r\nInjected: yes\x1b[31m");
	ck_assert_ptr_null(strchr(r->check[CHK_BANNER].finding, '\r'));
	ck_assert_ptr_null(strchr(r->check[CHK_BANNER].finding, '\x1b'));
	audit_evidence(r, CHK_BANNER, "line one\nstill line one");
	audit_evidence(r, CHK_BANNER, "line two");
	/* Evidence lines are separated by '\n'; a '\n' inside one is escaped. */
	ck_assert_str_eq(mp_buf_str(&r->check[CHK_BANNER].evidence),
	    "line one\\x0astill line one\nline two");
	done(r);
}
END_TEST

START_TEST(json_same_data)
{
	struct audit_report *r = all(AUDIT_PASS);
	json_t *j, *checks;
	json_error_t e;
	char *s;
	struct mp_buf text = MP_BUF_INIT;

	snprintf(r->host, sizeof(r->host), "127.0.0.1");
	snprintf(r->port, sizeof(r->port), "25");
	audit_set(r, CHK_VRFY, AUDIT_FAIL, "users can be enumerated");
	audit_evidence(r, CHK_VRFY, "VRFY root -> 252 2.0.0 root");
	audit_evidence(r, CHK_VRFY, "VRFY mpa01 -> 550 5.1.1");
	audit_fix(r, CHK_VRFY, "disable_vrfy_command = yes");
	audit_grade(r);
	r->elapsed_ms = 1234;
	s = audit_render_json(r);
	j = json_loads(s, 0, &e);
	ck_assert_msg(j != NULL, "%s", e.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "grade")), r->grade);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "score")), r->score);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "elapsed_ms")), 1234);
	checks = json_object_get(j, "checks");
	ck_assert_uint_eq(json_array_size(checks), CHK_COUNT);
	for (size_t i = 0; i < json_array_size(checks); i++) {
		json_t *c = json_array_get(checks, i);

		if (strcmp(json_string_value(json_object_get(c, "id")), "smtp.vrfy") != 0)
			continue;
		ck_assert_str_eq(json_string_value(json_object_get(c, "status")), "FAIL");
		ck_assert_uint_eq(json_array_size(json_object_get(c, "evidence")), 2);
		ck_assert_str_eq(json_string_value(json_object_get(c, "fix")), "disable_vrfy_command = yes");
	}
	json_decref(j);
	free(s);

	audit_render_text(r, &text);
	ck_assert_ptr_nonnull(strstr(mp_buf_str(&text), "Security Score "));
	ck_assert_ptr_nonnull(strstr(mp_buf_str(&text), "  fix: disable_vrfy_command = yes"));
	ck_assert_ptr_nonnull(strstr(mp_buf_str(&text), "Audit finished in 1.23 s"));
	mp_buf_free(&text);
	done(r);
}
END_TEST

START_TEST(ids_unique)
{
	for (int i = 0; i < CHK_COUNT; i++) {
		ck_assert_ptr_nonnull(audit_defs[i].id);
		ck_assert_ptr_nonnull(audit_defs[i].why);
		for (int k = i + 1; k < CHK_COUNT; k++)
			ck_assert_str_ne(audit_defs[i].id, audit_defs[k].id);
	}
}
END_TEST

/* The manual page's weight table is the rubric's: every id with its weight. */
START_TEST(man_page_lists_weights)
{
	FILE *f = fopen(test_path("../man/mailposture-audit.8"), "r");
	struct mp_buf page = MP_BUF_INIT;
	char line[512];

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		mp_buf_puts(&page, line);
	fclose(f);
	for (int i = 0; i < CHK_COUNT; i++) {
		char want[80];
		const char *hit;

		snprintf(want, sizeof(want), "%s %d", audit_defs[i].id, audit_defs[i].weight);
		hit = strstr(mp_buf_str(&page), want);
		ck_assert_msg(hit != NULL && (hit[strlen(want)] == ' ' || hit[strlen(want)] == '\n'),
		    "man/mailposture-audit.8 does not list \"%s\"", want);
	}
	mp_buf_free(&page);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("audit_grade");
	TCase *tc = tcase_create("audit_grade");

	tcase_add_test(tc, letters);
	tcase_add_test(tc, weights_and_not_tested);
	tcase_add_test(tc, caps);
	tcase_add_test(tc, caps_from_table);
	tcase_add_test(tc, findings_are_printable);
	tcase_add_test(tc, json_same_data);
	tcase_add_test(tc, ids_unique);
	tcase_add_test(tc, man_page_lists_weights);
	suite_add_tcase(s, tc);
	return s;
}
