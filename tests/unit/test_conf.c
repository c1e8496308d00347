#include "config.h"

#include <sys/stat.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "conf.h"
#include "conf_int.h"
#include "util.h"

static char tmp_path[64];

/* Writes len bytes to a new private temporary file; returns its path. */
static const char *
write_tmp(const char *text, size_t len)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/mp-conf-test-XXXXXX");
	fd = mkstemp(tmp_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

/* Loads text; returns the conf (NULL on error) with the error in err. */
static struct mp_conf *
load_text(const char *text, size_t len, char *err, size_t errlen)
{
	struct mp_conf *c;

	err[0] = '\0';
	c = mp_conf_load(write_tmp(text, len), err, errlen);
	unlink(tmp_path);
	return c;
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len_r = (size_t)n;
	return buf;
}

static char *
describe(const char *format)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(fp);
	mp_conf_describe(fp, format);
	fclose(fp);
	return text;
}

START_TEST(defaults_are_the_table)
{
	struct mp_conf *c = mp_conf_new_defaults();

	ck_assert_str_eq(mp_conf_str(c, "milter", "socket"), "unix:/run/mailposture/milter.sock");
	ck_assert_str_eq(mp_conf_str(c, "milter", "socket_mode"), "0660");
	ck_assert_str_eq(mp_conf_str(c, "milter", "user"), "mailposture");
	ck_assert_str_eq(mp_conf_str(c, "milter", "group"), "");
	ck_assert(!mp_conf_bool(c, "milter", "allow_root"));
	ck_assert_str_eq(mp_conf_str(c, "milter", "dmarc_reject"), "none");
	ck_assert_str_eq(mp_conf_str(c, "milter", "multiple_from"), "strictest");
	ck_assert(mp_conf_bool(c, "milter", "skip_authenticated"));
	ck_assert_str_eq(mp_conf_str(c, "milter", "skip_networks"), "127.0.0.0/8 ::1");
	ck_assert_int_eq(mp_conf_int(c, "milter", "max_header_bytes"), 65536);
	ck_assert_int_eq(mp_conf_int(c, "milter", "max_headers"), 64);
	ck_assert_str_eq(mp_conf_str(c, "dns", "resolver"), "");
	ck_assert_int_eq(mp_conf_int(c, "dns", "timeout"), 2000);
	ck_assert_str_eq(mp_conf_str(c, "policy", "psl_file"), MP_PSL_FILE);
	ck_assert_int_eq(mp_conf_int(c, "policy", "eval_timeout"), 10);
	ck_assert(mp_conf_bool(c, "policy", "posture"));
	ck_assert_int_eq(mp_conf_int(c, "policy", "posture_ttl"), 3600);
	ck_assert_str_eq(mp_conf_str(c, "redis", "password_file"), "");
	ck_assert_str_eq(mp_conf_str(c, "redis", "key_prefix"), "mp:");
	ck_assert_int_eq(mp_conf_int(c, "redis", "timeout"), 500);
	ck_assert_int_eq(mp_conf_int(c, "redis", "ttl_message"), 604800);
	ck_assert_int_eq(mp_conf_int(c, "redis", "ttl_domain"), 7776000);
	ck_assert_int_eq(mp_conf_int(c, "redis", "ttl_day"), 3024000);
	ck_assert_int_eq(mp_conf_int(c, "redis", "queue_size"), 10000);
	ck_assert_str_eq(mp_conf_str(c, "audit", "host"), "127.0.0.1");
	ck_assert_int_eq(mp_conf_int(c, "audit", "port"), 25);
	ck_assert_str_eq(mp_conf_str(c, "audit", "dnsbl_zones"),
	    "zen.spamhaus.org bl.spamcop.net b.barracudacentral.org");
	ck_assert_int_eq(mp_conf_int(c, "audit", "timeout"), 5000);
	ck_assert_str_eq(mp_conf_str(c, "log", "facility"), "mail");
	ck_assert_str_eq(mp_conf_str(c, "log", "level"), "info");
	mp_conf_unref(&c);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(good_file_loads)
{
	char err[512];
	struct mp_conf *c = mp_conf_load(test_path("unit/data/good.conf"), err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(mp_conf_str(c, "milter", "socket"), "inet:8891@127.0.0.1");
	ck_assert_str_eq(mp_conf_str(c, "milter", "socket_mode"), "660");
	ck_assert_str_eq(mp_conf_str(c, "milter", "dmarc_reject"), "reject");
	ck_assert_str_eq(mp_conf_str(c, "milter", "temperror"), "tempfail");
	ck_assert(mp_conf_bool(c, "milter", "dry_run"));
	ck_assert(mp_conf_bool(c, "milter", "received_spf"));
	ck_assert(!mp_conf_bool(c, "milter", "skip_authenticated"));
	ck_assert(!mp_conf_bool(c, "milter", "allow_root"));
	/* The indented line continues the list. */
	ck_assert_str_eq(mp_conf_str(c, "milter", "skip_networks"),
	    "192.0.2.0/24, 2001:db8::/32 198.51.100.7");
	ck_assert_int_eq(mp_conf_int(c, "milter", "max_header_bytes"), 1024);
	ck_assert_int_eq(mp_conf_int(c, "milter", "max_headers"), 1000);
	ck_assert_str_eq(mp_conf_str(c, "dns", "resolver"), "2001:db8::53@5353");
	ck_assert_int_eq(mp_conf_int(c, "dns", "timeout"), 100);
	ck_assert(!mp_conf_bool(c, "policy", "posture"));
	ck_assert_int_eq(mp_conf_int(c, "policy", "posture_ttl"), 0);
	ck_assert_str_eq(mp_conf_str(c, "redis", "address"), "[2001:db8::6]:6379");
	ck_assert_int_eq(mp_conf_int(c, "redis", "db"), 15);
	ck_assert_int_eq(mp_conf_int(c, "audit", "port"), 587);
	ck_assert_str_eq(mp_conf_str(c, "audit", "fail_under"), "B-");
	ck_assert_str_eq(mp_conf_str(c, "log", "facility"), "local3");
	ck_assert_str_eq(mp_conf_str(c, "log", "level"), "debug");
	/* Untouched options keep their defaults. */
	ck_assert_int_eq(mp_conf_int(c, "redis", "queue_size"), 10000);
	mp_conf_unref(&c);
}
END_TEST

/*
 * The committed sample is what mp_conf_describe prints, so that the two
 * never drift apart. When the table changes, regenerate the sample with
 *   MP_REGEN_SAMPLE=1 make -C tests check TESTS=unit/test_conf
 * A build configured --with-psl-file prints its own path.
 */
START_TEST(sample_matches_table)
{
	static const char debian_psl[] = "/usr/share/publicsuffix/public_suffix_list.dat";
	size_t len;
	char *file, *gen = describe("ini");
	struct mp_buf expect = MP_BUF_INIT;
	const char *p, *hit;

	if (test_env("MP_REGEN_SAMPLE") != NULL && strcmp(MP_PSL_FILE, debian_psl) == 0) {
		FILE *fp = fopen(test_path("../conf/mailposture.conf"), "w");

		ck_assert_ptr_nonnull(fp);
		fputs(gen, fp);
		ck_assert_int_eq(fclose(fp), 0);
	}
	p = file = slurp(test_path("../conf/mailposture.conf"), &len);

	while ((hit = strstr(p, debian_psl)) != NULL) {
		mp_buf_append(&expect, p, (size_t)(hit - p));
		mp_buf_puts(&expect, MP_PSL_FILE);
		p = hit + strlen(debian_psl);
	}
	mp_buf_puts(&expect, p);
	ck_assert_msg(strcmp(mp_buf_str(&expect), gen) == 0,
	    "conf/mailposture.conf differs from mp_conf_describe(\"ini\"): "
	    "regenerate it with MP_REGEN_SAMPLE=1 make -C tests check TESTS=unit/test_conf");
	/* Every line, uncommented, fits in inih's line buffer. */
	for (p = gen; *p != '\0'; ) {
		size_t n = strcspn(p, "\n");

		ck_assert_uint_le(n, 198);
		p += n + (p[n] == '\n');
	}
	mp_buf_free(&expect);
	free(gen);
	free(file);
}
END_TEST

START_TEST(sample_loads_to_defaults)
{
	char err[512];
	struct mp_conf *c = mp_conf_load(test_path("../conf/mailposture.conf"), err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(mp_conf_str(c, "milter", "socket"), "unix:/run/mailposture/milter.sock");
	ck_assert_int_eq(mp_conf_int(c, "redis", "ttl_day"), 3024000);
	mp_conf_unref(&c);
}
END_TEST

/* Uncommenting every option of the sample gives a file that loads. */
START_TEST(sample_uncommented_loads)
{
	size_t len;
	char *file = slurp(test_path("../conf/mailposture.conf"), &len);
	struct mp_buf out = MP_BUF_INIT;
	struct mp_conf *c;
	char err[512];
	int n = 0;

	for (const char *p = file; *p != '\0'; ) {
		size_t l = strcspn(p, "\n");

		/* "#name = value" lines; help text has "# " after the '#'. */
		if (p[0] == '#' && l > 1 && p[1] >= 'a' && p[1] <= 'z') {
			mp_buf_append(&out, p + 1, l - 1);
			n++;
		} else
			mp_buf_append(&out, p, l);
		mp_buf_putc(&out, '\n');
		p += l + (p[l] == '\n');
	}
	ck_assert_int_eq(n, (int)conf_noptions);   /* every option of the table */
	c = load_text(out.data, out.len, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(mp_conf_str(c, "audit", "host"), "127.0.0.1");
	mp_conf_unref(&c);
	mp_buf_free(&out);
	free(file);
}
END_TEST

START_TEST(man_page_lists_every_section)
{
	char *man = describe("man");

	ck_assert_ptr_nonnull(strstr(man, ".TH MAILPOSTURE.CONF 5"));
	ck_assert_ptr_nonnull(strstr(man, ".SH \"SECTION [milter]\""));
	ck_assert_ptr_nonnull(strstr(man, ".SH \"SECTION [log]\""));
	ck_assert_ptr_nonnull(strstr(man, ".B max_header_bytes\n"));
	ck_assert_ptr_nonnull(strstr(man, "integer, 1024..1048576"));
	/* A hyphen in text is escaped so that man does not hyphenate it. */
	ck_assert_ptr_nonnull(strstr(man, "mailposture\\-milter"));
	free(man);
}
END_TEST

/*
 * man/mailposture.conf.5 is what mp_conf_describe("man") prints, so that
 * the manual lists every option with its current default and bounds.
 * When the table changes, regenerate it with
 *   MP_REGEN_MAN=1 make -C tests check TESTS=unit/test_conf
 * As for the sample, a build configured --with-psl-file prints its own
 * path where the committed page has Debian's.
 */
START_TEST(man_page_matches_table)
{
	static const char debian_psl[] = "/usr/share/publicsuffix/public_suffix_list.dat";
	static const char page[] = "../man/mailposture.conf.5";
	size_t len;
	char *file, *gen = describe("man");
	struct mp_buf expect = MP_BUF_INIT;
	const char *p, *hit;

	if (test_env("MP_REGEN_MAN") != NULL && strcmp(MP_PSL_FILE, debian_psl) == 0) {
		FILE *fp = fopen(test_path(page), "w");

		ck_assert_ptr_nonnull(fp);
		fputs(gen, fp);
		ck_assert_int_eq(fclose(fp), 0);
	}
	p = file = slurp(test_path(page), &len);
	while ((hit = strstr(p, debian_psl)) != NULL) {
		mp_buf_append(&expect, p, (size_t)(hit - p));
		mp_buf_puts(&expect, MP_PSL_FILE);
		p = hit + strlen(debian_psl);
	}
	mp_buf_puts(&expect, p);
	ck_assert_msg(strcmp(mp_buf_str(&expect), gen) == 0,
	    "man/mailposture.conf.5 differs from mp_conf_describe(\"man\"): "
	    "regenerate it with MP_REGEN_MAN=1 make -C tests check TESTS=unit/test_conf");
	mp_buf_free(&expect);
	free(gen);
	free(file);
}
END_TEST

/*
 * Bad files: each must fail with "FILE:LINE: " and the reason. The line
 * number is checked, since an error on the wrong line sends the
 * administrator to the wrong place.
 */
/* A literal that holds a NUL byte, with its length. */
#define BIN(s) s, sizeof(s) - 1

static const struct {
	const char *text;
	size_t len;     /* 0: strlen(text) */
	int line;
	const char *reason;
} bad_files[] = {
	{ "[milter]\nsocket = unix:/a\nsocket = unix:/b\n", 0, 3, "[milter] socket already set on line 2" },
	{ "[nosuch]\nx = 1\n", 0, 1, "unknown section [nosuch]" },
	{ "[milter]\n[Milter]\n", 0, 2, "unknown section [Milter]" },
	{ "[milter]\nsockett = unix:/a\n", 0, 2, "unknown option sockett in [milter]" },
	{ "[dns]\nsocket = unix:/a\n", 0, 2, "unknown option socket in [dns]" },
	{ "socket = unix:/a\n", 0, 1, "option socket before any [section]" },
	{ "[milter]\nmax_headers = ten\n", 0, 2, "'ten' is not an integer" },
	{ "[milter]\nmax_headers = 10x\n", 0, 2, "'10x' is not an integer" },
	{ "[milter]\nmax_headers =\n", 0, 2, "'' is not an integer" },
	{ "[milter]\nmax_headers = 99999999999999999999999\n", 0, 2, "is not an integer" },
	{ "[milter]\nmax_headers = 3\n", 0, 2, "3 is out of bounds (4..1000)" },
	{ "[milter]\nmax_headers = 1001\n", 0, 2, "1001 is out of bounds (4..1000)" },
	{ "[milter]\nmax_headers = -5\n", 0, 2, "-5 is out of bounds (4..1000)" },
	{ "[redis]\ndb = 16\n", 0, 2, "[redis] db: 16 is out of bounds (0..15)" },
	{ "[audit]\nport = 0\n", 0, 2, "0 is out of bounds (1..65535)" },
	{ "[milter]\ndry_run = maybe\n", 0, 2, "'maybe' is not yes/no, true/false, on/off or 1/0" },
	{ "[milter]\ndry_run = yes # really\n", 0, 2, "comments after a value start with ';'" },
	{ "[milter]\ndmarc_reject = discard\n", 0, 2, "'discard' is not one of reject, quarantine, none" },
	{ "[milter]\ndmarc_quarantine = reject\n", 0, 2, "is not one of quarantine, none" },
	{ "[log]\nlevel = crit\n", 0, 2, "is not one of err, warning, notice, info, debug" },
	{ "[log]\nfacility = local8\n", 0, 2, "'local8' is not one of mail, daemon" },
	{ "[milter]\nsocket = /run/x.sock\n", 0, 2, "expected unix:/PATH, inet:PORT@HOST or inet6:PORT@HOST" },
	{ "[milter]\nsocket = unix:run/x.sock\n", 0, 2, "absolute path" },
	{ "[milter]\nsocket = inet:0@127.0.0.1\n", 0, 2, "bad port" },
	{ "[milter]\nsocket = inet:65536\n", 0, 2, "bad port" },
	{ "[milter]\nsocket = inet:8891@2001:db8::1\n", 0, 2, "inet socket with an IPv6 address" },
	{ "[milter]\nsocket = inet6:8891@192.0.2.1\n", 0, 2, "inet6 socket with an IPv4 address" },
	{ "[milter]\nsocket = inet:8891@bad_host!\n", 0, 2, "bad host" },
	{ "[milter]\nsocket_mode = 0668\n", 0, 2, "octal mode" },
	{ "[milter]\nsocket_mode = 4660\n", 0, 2, "setuid" },
	{ "[milter]\nsocket_mode = rw-rw----\n", 0, 2, "octal mode" },
	{ "[milter]\nuser = -root\n", 0, 2, "starts with '-'" },
	{ "[milter]\ngroup = mail group\n", 0, 2, "not allowed in a user or group name" },
	{ "[milter]\npidfile = run/milter.pid\n", 0, 2, "expected an absolute path" },
	{ "[milter]\nskip_networks = 192.0.2.0/33\n", 0, 2, "'192.0.2.0/33' is not an ADDRESS or ADDRESS/PREFIX" },
	{ "[milter]\nskip_networks = 192.0.2.0/\n", 0, 2, "not an ADDRESS" },
	{ "[milter]\nskip_networks = 2001:db8::/129\n", 0, 2, "not an ADDRESS" },
	{ "[milter]\nskip_networks = example.com\n", 0, 2, "not an ADDRESS" },
	/* The skip list's rule, at load time: no host bits past the prefix. */
	{ "[milter]\nskip_networks = 192.0.2.1/24\n", 0, 2,
	  "'192.0.2.1/24' is not an ADDRESS or ADDRESS/PREFIX: host bits set past the prefix length" },
	{ "[milter]\nskip_networks = ::1 2001:db8::1/32\n", 0, 2, "host bits set" },
	{ "[milter]\nskip_mail_from = user@@example.com\n", 0, 2, "is not user@domain" },
	{ "[milter]\nskip_mail_from = @example\n", 0, 2, "is not a domain name" },
	{ "[dns]\nresolver = dns.example.com\n", 0, 2, "with an IP address" },
	{ "[dns]\nresolver = 192.0.2.53@99999\n", 0, 2, "bad port" },
	{ "[dns]\ntimeout = 99\n", 0, 2, "99 is out of bounds (100..30000)" },
	{ "[policy]\nauthserv_id = mx.example.com;x\n", 0, 2, "character ';' not allowed in an authserv-id" },
	{ "[policy]\ntrusted_authserv_ids = a.example.com b\"c\n", 0, 2, "not allowed in an authserv-id" },
	{ "[policy]\npsl_file =\n", 0, 2, "expected an absolute path" },
	{ "[policy]\neval_timeout = 0\n", 0, 2, "0 is out of bounds (1..120)" },
	{ "[redis]\naddress = localhost\n", 0, 2, "expected HOST:PORT" },
	{ "[redis]\naddress = 2001:db8::1:6379\n", 0, 2, "write an IPv6 address as [ADDRESS]:PORT" },
	{ "[redis]\naddress = [192.0.2.1]:6379\n", 0, 2, "expected [IPV6-ADDRESS]:PORT" },
	{ "[redis]\naddress = redis.example.com:0\n", 0, 2, "bad port" },
	{ "[redis]\naddress = relative/redis.sock\n", 0, 2, "expected HOST:PORT" },
	{ "[redis]\nkey_prefix = {mp}:\n", 0, 2, "brace" },
	{ "[redis]\npassword_file = /nonexistent/mp-secret\n", 0, 2, "/nonexistent/mp-secret: No such file or directory" },
	{ "[redis]\npassword_file = secret\n", 0, 2, "expected an absolute path" },
	{ "[audit]\nhost = bad host\n", 0, 2, "expected a host name or an IP address" },
	{ "[audit]\ndomain = 192.0.2.1\n", 0, 2, "is not a domain name" },
	{ "[audit]\npublic_ip = mx.example.com\n", 0, 2, "expected an IPv4 or IPv6 address" },
	{ "[audit]\ndnsbl_zones = zen.example.com bad..example.com\n", 0, 2, "'bad..example.com' is not a domain name" },
	{ "[audit]\nfail_under = E\n", 0, 2, "expected a grade" },
	{ "[audit]\nfail_under = a+\n", 0, 2, "expected a grade" },
	/* inih's own refusals are syntax errors, with inih's line. */
	{ "[milter]\njust some words\n", 0, 2, "syntax error" },
	{ "[milter\nsocket = unix:/a\n", 0, 1, "syntax error" },
	/* An indented line continues only a list. */
	{ "[milter]\nsocket = unix:/a\n  socket_mode = 0600\n", 0, 3,
	  "indented line continues [milter] socket, which takes one value" },
	{ "[milter]\nskip_networks = 192.0.2.1\n  socket_mode = 0600\n", 0, 3, "not an ADDRESS" },
	/* Hostile bytes. */
	{ BIN("[milter]\nsocket = unix:/a\0b\n"), 2, "NUL byte in the line" },
	{ BIN("[milter]\nuser = a\n\0"), 3, "NUL byte in the line" },
	{ "[milter]\nuser = a\x01" "b\n", 0, 2, "control character in the value" },
	{ "[milter]\nuser = \xc3\xa9t\xc3\xa9\n", 0, 2, "not allowed in a user or group name" },
};

START_TEST(bad_files_fail_with_line)
{
	char err[512], want[600];
	size_t len = bad_files[_i].len ? bad_files[_i].len : strlen(bad_files[_i].text);
	struct mp_conf *c = load_text(bad_files[_i].text, len, err, sizeof(err));

	ck_assert_msg(c == NULL, "case %d loaded: %s", _i, bad_files[_i].text);
	snprintf(want, sizeof(want), "%s:%d: ", tmp_path, bad_files[_i].line);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "case %d: '%s' does not start with '%s'", _i, err, want);
	ck_assert_msg(strstr(err, bad_files[_i].reason) != NULL,
	    "case %d: '%s' does not say '%s'", _i, err, bad_files[_i].reason);
}
END_TEST

/* Good odd cases, one value each. */
static const struct {
	const char *text;
	const char *section, *name, *value;
} good_values[] = {
	{ "\xef\xbb\xbf[milter]\nuser = bom\n", "milter", "user", "bom" },
	{ "[milter]\r\nuser = crlf\r\n", "milter", "user", "crlf" },
	{ "[milter]\nuser=tight\n", "milter", "user", "tight" },
	{ "[milter]\nuser : colon\n", "milter", "user", "colon" },
	{ "[milter]\n  user = indented-first\n", "milter", "user", "indented-first" },
	{ "[milter]\nuser = last-line-no-newline", "milter", "user", "last-line-no-newline" },
	{ "[milter]\nsocket = local:/var/run/mp.sock\n", "milter", "socket", "local:/var/run/mp.sock" },
	{ "[milter]\nsocket = inet:8891\n", "milter", "socket", "inet:8891" },
	{ "[milter]\nsocket = inet:8891@localhost\n", "milter", "socket", "inet:8891@localhost" },
	{ "[milter]\nsocket = inet6:8891@[2001:db8::1]\n", "milter", "socket", "inet6:8891@[2001:db8::1]" },
	{ "[milter]\nsocket = inet6:8891@::1\n", "milter", "socket", "inet6:8891@::1" },
	{ "[milter]\nskip_networks =\n", "milter", "skip_networks", "" },
	{ "[milter]\nskip_networks = ::ffff:192.0.2.0/120 0.0.0.0/0 ::/0\n", "milter",
	  "skip_networks", "::ffff:192.0.2.0/120 0.0.0.0/0 ::/0" },
	{ "[milter]\nsocket = unix:/run/mp/x.sock\n", "milter", "socket", "unix:/run/mp/x.sock" },
	{ "[milter]\nskip_networks = 10.0.0.0/8\n\t172.16.0.0/12\n\n  fd00::/8\n",
	  "milter", "skip_networks", "10.0.0.0/8 172.16.0.0/12 fd00::/8" },
	/* " ;" starts a comment on a continuation line too. */
	{ "[audit]\ndnsbl_zones = a.example.com ; first\n b.example.com ; second\n",
	  "audit", "dnsbl_zones", "a.example.com b.example.com" },
	{ "[milter]\nskip_mail_from = bounce@example.com, @example.org example.net\n",
	  "milter", "skip_mail_from", "bounce@example.com, @example.org example.net" },
	{ "[milter]\ndmarc_reject = QUARANTINE\n", "milter", "dmarc_reject", "quarantine" },
	{ "[dns]\nresolver = 192.0.2.53\n", "dns", "resolver", "192.0.2.53" },
	{ "[dns]\nresolver = 192.0.2.53@53\n", "dns", "resolver", "192.0.2.53@53" },
	{ "[redis]\naddress = /run/redis/redis.sock\n", "redis", "address", "/run/redis/redis.sock" },
	{ "[redis]\naddress = localhost:6379\n", "redis", "address", "localhost:6379" },
	{ "[redis]\nkey_prefix =\n", "redis", "key_prefix", "" },
	{ "[audit]\nhost = 2001:db8::25\n", "audit", "host", "2001:db8::25" },
	{ "[audit]\nfail_under = F\n", "audit", "fail_under", "F" },
	/* A section may come back; options stay unique. */
	{ "[milter]\nuser = a\n[dns]\n[milter]\ngroup = b\n", "milter", "group", "b" },
};

START_TEST(good_values_load)
{
	char err[512];
	struct mp_conf *c = load_text(good_values[_i].text, strlen(good_values[_i].text),
	    err, sizeof(err));

	ck_assert_msg(c != NULL, "case %d: %s", _i, err);
	ck_assert_str_eq(mp_conf_str(c, good_values[_i].section, good_values[_i].name),
	    good_values[_i].value);
	mp_conf_unref(&c);
}
END_TEST

/* inih would cut a long line in two and parse the rest as a new line. */
START_TEST(overlong_line_is_refused)
{
	struct mp_buf b = MP_BUF_INIT;
	struct mp_conf *c;
	char err[512];

	mp_buf_puts(&b, "[milter]\nskip_mail_from = ");
	for (int i = 0; i < 30; i++)
		mp_buf_puts(&b, "example.com ");
	mp_buf_puts(&b, "\n[log]\nlevel = debug\n");
	c = load_text(b.data, b.len, err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err, ":2: line longer than 198 characters"));
	mp_buf_free(&b);

	/* Exactly 198 characters fits. */
	mp_buf_puts(&b, "[milter]\nskip_mail_from = ");
	while (b.len - 9 < 198)
		mp_buf_putc(&b, b.len % 12 == 0 ? ' ' : 'a');
	b.data[b.len - 1] = '.';
	mp_buf_puts(&b, "\n");
	c = load_text(b.data, b.len, err, sizeof(err));
	/* The value is not a valid list, but the error is about the value. */
	ck_assert_ptr_null(c);
	ck_assert_ptr_null(strstr(err, "line longer"));
	ck_assert_ptr_nonnull(strstr(err, ":2: [milter] skip_mail_from"));
	mp_buf_free(&b);
}
END_TEST

START_TEST(missing_and_odd_files)
{
	char err[512];

	ck_assert_ptr_null(mp_conf_load("/nonexistent/mailposture.conf", err, sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/mailposture.conf: No such file or directory");
	ck_assert_ptr_null(mp_conf_load("/tmp", err, sizeof(err)));
	ck_assert_str_eq(err, "/tmp: not a regular file");
}
END_TEST

START_TEST(secret_file_must_be_private)
{
	char secret[] = "/tmp/mp-secret-XXXXXX";
	char text[256], err[512];
	struct mp_conf *c;
	int fd = mkstemp(secret);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "pw\n", 3), 3);
	close(fd);
	snprintf(text, sizeof(text), "[redis]\naddress = 127.0.0.1:6379\npassword_file = %s\n", secret);

	ck_assert_int_eq(chmod(secret, 0600), 0);
	c = load_text(text, strlen(text), err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(mp_conf_str(c, "redis", "password_file"), secret);
	mp_conf_unref(&c);

	ck_assert_int_eq(chmod(secret, 0400), 0);
	c = load_text(text, strlen(text), err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	mp_conf_unref(&c);

	ck_assert_int_eq(chmod(secret, 0640), 0);
	c = load_text(text, strlen(text), err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, ":3: [redis] password_file: ") != NULL, "%s", err);
	ck_assert_msg(strstr(err, secret) != NULL, "%s", err);
	ck_assert_msg(strstr(err, "mode 0640") != NULL, "%s", err);

	ck_assert_int_eq(chmod(secret, 0604), 0);
	c = load_text(text, strlen(text), err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "mode 0604") != NULL, "%s", err);

	/* The same rule holds for a command-line override. */
	c = mp_conf_new_defaults();
	ck_assert(!mp_conf_set(c, "redis", "password_file", secret, err, sizeof(err)));
	ck_assert_msg(strstr(err, "mode 0604") != NULL, "%s", err);
	mp_conf_unref(&c);
	unlink(secret);

	snprintf(text, sizeof(text), "[redis]\npassword_file = /tmp\n");
	c = load_text(text, strlen(text), err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "/tmp: not a regular file") != NULL, "%s", err);
}
END_TEST

START_TEST(set_overrides_and_checks)
{
	struct mp_conf *c = mp_conf_new_defaults();
	char err[512];

	ck_assert(mp_conf_set(c, "milter", "dry_run", "yes", err, sizeof(err)));
	ck_assert(mp_conf_bool(c, "milter", "dry_run"));
	ck_assert(mp_conf_set(c, "milter", "dry_run", "no", err, sizeof(err)));
	ck_assert(!mp_conf_bool(c, "milter", "dry_run"));
	ck_assert(mp_conf_set(c, "redis", "db", "7", err, sizeof(err)));
	ck_assert_int_eq(mp_conf_int(c, "redis", "db"), 7);

	ck_assert(!mp_conf_set(c, "redis", "db", "70", err, sizeof(err)));
	ck_assert_str_eq(err, "[redis] db: 70 is out of bounds (0..15)");
	ck_assert_int_eq(mp_conf_int(c, "redis", "db"), 7);   /* unchanged */
	ck_assert(!mp_conf_set(c, "redis", "nosuch", "1", err, sizeof(err)));
	ck_assert_str_eq(err, "unknown option nosuch in [redis]");
	ck_assert(!mp_conf_set(c, "nosuch", "db", "1", err, sizeof(err)));
	ck_assert_str_eq(err, "unknown section [nosuch]");
	ck_assert(!mp_conf_set(c, "log", "level", "loud", err, sizeof(err)));
	ck_assert_str_eq(err, "[log] level: 'loud' is not one of err, warning, notice, info, debug");
	/* Hostile bytes are quoted back escaped. */
	ck_assert(!mp_conf_set(c, "milter", "max_headers", "1\x1b[2J", err, sizeof(err)));
	ck_assert_str_eq(err, "[milter] max_headers: control character in the value");
	ck_assert(!mp_conf_set(c, "log", "level", "\xff\xfe", err, sizeof(err)));
	ck_assert_str_eq(err, "[log] level: '\\xff\\xfe' is not one of err, warning, notice, info, debug");
	mp_conf_unref(&c);
}
END_TEST

static void *
ref_worker(void *arg)
{
	struct mp_conf *c = arg;

	for (int i = 0; i < 20000; i++) {
		struct mp_conf *mine = mp_conf_ref(c);

		if (mp_conf_int(mine, "redis", "db") != 0)
			abort();
		mp_conf_unref(&mine);
	}
	return NULL;
}

/*
 * Threads take and drop references while the owner drops its own: the
 * last one out frees, exactly once (ASan reports a double free or a use
 * after free, and a leak if nobody frees).
 */
START_TEST(refcount_across_threads)
{
	struct mp_conf *c = mp_conf_new_defaults();
	struct mp_conf *held[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		held[i] = mp_conf_ref(c);
		ck_assert_int_eq(pthread_create(&t[i], NULL, ref_worker, held[i]), 0);
	}
	mp_conf_unref(&c);
	ck_assert_ptr_null(c);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		mp_conf_unref(&held[i]);
		ck_assert_ptr_null(held[i]);
	}
	mp_conf_unref(&c);   /* NULL: a no-op */
}
END_TEST

/*
 * The abort tests run in a child of their own (Check forks); their log
 * line is sent away so that it cannot cut into the TAP stream.
 */
static void
quiet(void)
{
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
}

START_TEST(getter_unknown_name_aborts)
{
	struct mp_conf *c = mp_conf_new_defaults();

	quiet();
	mp_conf_str(c, "milter", "no_such_option");
}
END_TEST

START_TEST(getter_wrong_type_aborts)
{
	struct mp_conf *c = mp_conf_new_defaults();

	quiet();
	mp_conf_int(c, "milter", "socket");
}
END_TEST

START_TEST(set_on_shared_conf_aborts)
{
	struct mp_conf *c = mp_conf_new_defaults();
	char err[128];

	quiet();
	mp_conf_ref(c);
	mp_conf_set(c, "milter", "dry_run", "yes", err, sizeof(err));
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_add_test(tc, defaults_are_the_table);
	tcase_add_test(tc, good_file_loads);
	tcase_add_test(tc, sample_matches_table);
	tcase_add_test(tc, sample_loads_to_defaults);
	tcase_add_test(tc, sample_uncommented_loads);
	tcase_add_test(tc, man_page_lists_every_section);
	tcase_add_test(tc, man_page_matches_table);
	tcase_add_loop_test(tc, bad_files_fail_with_line, 0, (int)MP_ARRAY_SIZE(bad_files));
	tcase_add_loop_test(tc, good_values_load, 0, (int)MP_ARRAY_SIZE(good_values));
	tcase_add_test(tc, overlong_line_is_refused);
	tcase_add_test(tc, missing_and_odd_files);
	tcase_add_test(tc, secret_file_must_be_private);
	tcase_add_test(tc, set_overrides_and_checks);
	tcase_add_test(tc, refcount_across_threads);
	tcase_add_test_raise_signal(tc, getter_unknown_name_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, getter_wrong_type_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, set_on_shared_conf_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}
