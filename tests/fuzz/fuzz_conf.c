/*
 * fuzz_conf: the config loader (policy/conf.h). It reads a file only
 * (no in-memory API), so each input is written to one private temporary
 * file, rewritten in place. Oracle: a failure names FILE:LINE and is
 * printable; a config that loads answers every getter the milter uses
 * with values inside the option table's bounds.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static char path[64];
static int fd = -1;

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/mp-fuzz-conf.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		abort();
	}
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_conf *c;
	char err[512];

	if (size > 65536 || ftruncate(fd, 0) != 0 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	memset(err, 'x', sizeof(err));
	c = mp_conf_load(path, err, sizeof(err));
	if (c == NULL) {
		FZ_CHECK(fz_terminated(err, sizeof(err)), "err not terminated");
		FZ_CHECK(strncmp(err, path, strlen(path)) == 0, "err without the file: %s", err);
		return 0;
	}
	FZ_CHECK(mp_conf_int(c, "policy", "eval_timeout") >= 1 &&
	    mp_conf_int(c, "policy", "eval_timeout") <= 120, "eval_timeout");
	FZ_CHECK(mp_conf_int(c, "milter", "max_headers") >= 4 &&
	    mp_conf_int(c, "milter", "max_headers") <= 1000, "max_headers");
	FZ_CHECK(mp_conf_int(c, "dns", "timeout") >= 100 &&
	    mp_conf_int(c, "dns", "timeout") <= 30000, "dns timeout");
	{
		const char *id = mp_conf_str(c, "policy", "authserv_id");

		FZ_CHECK(fz_printable(id, strlen(id)) && strpbrk(id, " ;") == NULL,
		    "authserv_id \"%s\"", id);
	}
	(void)mp_conf_bool(c, "milter", "dry_run");
	(void)mp_conf_str(c, "milter", "on_error");
	(void)mp_conf_str(c, "policy", "trusted_authserv_ids");
	mp_conf_unref(&c);
	FZ_CHECK(c == NULL, "unref left the pointer");
	return 0;
}
