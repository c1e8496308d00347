/*
 * dns_rdata: record data into struct mp_dns_rr. Pure: no resolver, so
 * the table tests and the fuzzer feed it hostile rdata directly. Every
 * length is checked against the rdata length that libunbound reports;
 * nothing is trusted from the data itself.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dns_int.h"

void
mp_dns_rr_clear(struct mp_dns_rr *rr)
{
	if (rr == NULL)
		return;
	free(rr->text);
	free(rr->tlsa_data);
	memset(rr, 0, sizeof(*rr));
}

/* TXT and SPF: the character-strings joined, within MP_DNS_MAX_TXT. */
static const char *
parse_txt(const unsigned char *rd, size_t len, struct mp_buf *text)
{
	size_t p = 0;

	if (len == 0)
		return "empty TXT rdata";
	while (p < len) {
		size_t n = rd[p++];

		if (n > len - p)
			return "TXT string runs past the rdata";
		if (n > MP_DNS_MAX_TXT - text->len)
			return "TXT record longer than MP_DNS_MAX_TXT";
		mp_buf_append(text, rd + p, n);
		p += n;
	}
	return NULL;
}

/* A and AAAA: the address, and its text. */
static const char *
parse_addr(enum mp_dns_type type, const unsigned char *rd, size_t len,
    struct mp_dns_rr *rr, struct mp_buf *text)
{
	char addr[INET6_ADDRSTRLEN];

	if (type == MP_DNS_A) {
		if (len != 4)
			return "A rdata is not 4 bytes";
		memcpy(&rr->a, rd, 4);
		inet_ntop(AF_INET, &rr->a, addr, sizeof(addr));
	} else {
		if (len != 16)
			return "AAAA rdata is not 16 bytes";
		memcpy(&rr->aaaa, rd, 16);
		inet_ntop(AF_INET6, &rr->aaaa, addr, sizeof(addr));
	}
	mp_buf_puts(text, addr);
	return NULL;
}

/* MX, PTR, CNAME: the target name, which must fill the rdata exactly. */
static const char *
parse_target(enum mp_dns_type type, const unsigned char *rd, size_t len,
    struct mp_dns_rr *rr, struct mp_buf *text)
{
	const char *why = NULL;
	size_t off = 0;

	if (type == MP_DNS_MX) {
		if (len < 3)
			return "MX rdata too short";
		rr->mx_pref = (uint16_t)(rd[0] << 8 | rd[1]);
		off = 2;
	}
	if (!dns_name_from_wire(rd, len, &off, text, &why))
		return why;
	if (off != len)
		return "trailing bytes after the name";
	return NULL;
}

/* TLSA: the fields, and the presentation form for reports. */
static const char *
parse_tlsa(const unsigned char *rd, size_t len, struct mp_dns_rr *rr, struct mp_buf *text)
{
	static const char hex[] = "0123456789abcdef";

	if (len < 4)
		return "TLSA rdata too short";
	rr->tlsa_usage = rd[0];
	rr->tlsa_selector = rd[1];
	rr->tlsa_mtype = rd[2];
	rr->tlsa_len = len - 3;
	rr->tlsa_data = xmalloc(rr->tlsa_len);
	memcpy(rr->tlsa_data, rd + 3, rr->tlsa_len);
	mp_buf_printf(text, "%u %u %u ", rd[0], rd[1], rd[2]);
	for (size_t i = 3; i < len; i++) {
		mp_buf_putc(text, hex[rd[i] >> 4]);
		mp_buf_putc(text, hex[rd[i] & 0x0f]);
	}
	return NULL;
}

bool
mp_dns_parse_rdata(enum mp_dns_type type, const unsigned char *rd, size_t len,
    struct mp_dns_rr *rr_r, const char **why_r)
{
	struct mp_buf text = MP_BUF_INIT;
	const char *why = NULL;

	memset(rr_r, 0, sizeof(*rr_r));
	rr_r->type = type;
	if (rd == NULL && len > 0) {
		*why_r = "no rdata";
		return false;
	}
	switch (type) {
	case MP_DNS_A:
	case MP_DNS_AAAA:
		why = parse_addr(type, rd, len, rr_r, &text);
		break;
	case MP_DNS_MX:
	case MP_DNS_PTR:
	case MP_DNS_CNAME:
		why = parse_target(type, rd, len, rr_r, &text);
		break;
	case MP_DNS_TXT:
	case MP_DNS_SPF:
		why = parse_txt(rd, len, &text);
		break;
	case MP_DNS_TLSA:
		why = parse_tlsa(rd, len, rr_r, &text);
		break;
	default:
		why = "unsupported record type";
		break;
	}
	if (why != NULL) {
		mp_buf_free(&text);
		mp_dns_rr_clear(rr_r);
		*why_r = why;
		return false;
	}
	rr_r->text_len = text.len;
	rr_r->text = mp_buf_steal(&text);
	return true;
}
