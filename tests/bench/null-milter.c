/*
 * null-milter: the floor for tests/bench/throughput. A libmilter filter
 * that speaks to Postfix exactly as mailposture-milter does (the same
 * steps skipped, the same commands left without reply on a unix socket,
 * the same macro lists, one header inserted at end of message, the body
 * of signed mail received and that of unsigned mail skipped at its first
 * chunk) and evaluates nothing. Its throughput is what any libmilter filter costs in
 * this Postfix on this machine; mailposture-milter's distance from it is
 * what our own code costs.
 *
 * Keep the negotiation in step with mlfi_negotiate in milter/milter.c.
 *
 *   null-milter unix:/path | inet:PORT@127.0.0.1
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <libmilter/mfapi.h>

static bool local_socket;

/* Per connection: what was agreed, and whether the message is signed. */
struct nm_conn {
	bool noreply;
	bool is_signed;
};

static sfsistat
nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	const unsigned long skip = SMFIP_NOUNKNOWN | (local_socket ?
	    SMFIP_NORCPT | SMFIP_NODATA : 0);
	const unsigned long noreply = local_socket ?
	    SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_EOH : 0;
	const unsigned long misc = SMFIP_HDR_LEADSPC | SMFIP_SKIP;
	struct nm_conn *c = calloc(1, sizeof(*c));

	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
	if (c == NULL)
		return SMFIS_REJECT;
	*pf1 = f1 & (skip | noreply | misc);
	*pf2 = *pf3 = 0;
	if (*pf0 & SMFIF_SETSYMLIST) {
		(void)smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen}");
		(void)smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	/* The flags live in the context: libmilter has no per-call query. */
	c->noreply = (*pf1 & noreply) != 0;
	smfi_setpriv(ctx, c);
	return SMFIS_CONTINUE;
}

static sfsistat
nm_step(SMFICTX *ctx)
{
	struct nm_conn *c = smfi_getpriv(ctx);

	return c != NULL && c->noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
nm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)host;
	(void)sa;
	return nm_step(ctx);
}

static sfsistat
nm_helo(SMFICTX *ctx, char *helo)
{
	(void)helo;
	return nm_step(ctx);
}

static sfsistat
nm_envfrom(SMFICTX *ctx, char **argv)
{
	(void)argv;
	return nm_step(ctx);
}

static sfsistat
nm_header(SMFICTX *ctx, char *name, char *value)
{
	struct nm_conn *c = smfi_getpriv(ctx);

	(void)value;
	if (c != NULL && strcasecmp(name, "DKIM-Signature") == 0)
		c->is_signed = true;
	return nm_step(ctx);
}

static sfsistat
nm_eoh(SMFICTX *ctx)
{
	return nm_step(ctx);
}

/* The body of signed mail is received (and dropped); that of unsigned mail is skipped. */
static sfsistat
nm_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct nm_conn *c = smfi_getpriv(ctx);

	(void)chunk;
	(void)len;
	return c != NULL && c->is_signed ? SMFIS_CONTINUE : SMFIS_SKIP;
}

static sfsistat
nm_eom(SMFICTX *ctx)
{
	struct nm_conn *c = smfi_getpriv(ctx);

	if (c != NULL)
		c->is_signed = false;
	(void)smfi_insheader(ctx, 0, "Authentication-Results", "mx.example.net; none");
	return SMFIS_CONTINUE;
}

static sfsistat
nm_abort(SMFICTX *ctx)
{
	struct nm_conn *c = smfi_getpriv(ctx);

	if (c != NULL)
		c->is_signed = false;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_close(SMFICTX *ctx)
{
	free(smfi_getpriv(ctx));
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

/* TCP_NODELAY on the listener, as milter/main.c sets it (see there). */
static void
listener_nodelay(void)
{
	for (int fd = 0; fd < 1024; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss), olen;
		int on = 1, listening = 0;

		olen = sizeof(listening);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0 ||
		    !listening)
			continue;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
}

int
main(int argc, char **argv)
{
	struct smfiDesc d;

	if (argc != 2) {
		fprintf(stderr, "usage: null-milter unix:/path | inet:PORT@127.0.0.1\n");
		return 2;
	}
	local_socket = strncmp(argv[1], "unix:", 5) == 0 || strncmp(argv[1], "local:", 6) == 0;
	memset(&d, 0, sizeof(d));
	d.xxfi_name = "null-milter";
	d.xxfi_version = SMFI_VERSION;
	d.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE;
	d.xxfi_connect = nm_connect;
	d.xxfi_helo = nm_helo;
	d.xxfi_envfrom = nm_envfrom;
	d.xxfi_header = nm_header;
	d.xxfi_eoh = nm_eoh;
	d.xxfi_body = nm_body;
	d.xxfi_eom = nm_eom;
	d.xxfi_abort = nm_abort;
	d.xxfi_close = nm_close;
	d.xxfi_negotiate = nm_negotiate;
	/* Postfix runs as another user: the socket must be writable for it. */
	umask(0);
	if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(d) == MI_FAILURE ||
	    smfi_opensocket(true) == MI_FAILURE) {
		fprintf(stderr, "null-milter: cannot set up %s\n", argv[1]);
		return 1;
	}
	if (!local_socket)
		listener_nodelay();
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
