/*
 * fuzz_dns_rdata: mp_dns_parse_rdata (policy/dns.h). The first byte
 * picks the type, the rest is the rdata. Oracle: a parsed name is
 * printable text without a trailing dot and no upper case (dns.h: names
 * are lowercased and escaped), TXT stays within MP_DNS_MAX_TXT, text is
 * NUL-terminated at text_len; a refusal leaves the record empty.
 */
#include "config.h"

#include <ctype.h>

#include "dns.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
check_name(const struct mp_dns_rr *rr)
{
	FZ_CHECK(rr->text != NULL && strlen(rr->text) == rr->text_len, "name length");
	FZ_CHECK(fz_printable(rr->text, rr->text_len), "name not printable: %s", rr->text);
	for (size_t i = 0; i < rr->text_len; i++)
		FZ_CHECK(!isupper((unsigned char)rr->text[i]), "upper case: %s", rr->text);
	FZ_CHECK(rr->text_len == 0 || rr->text[rr->text_len - 1] != '.' ||
	    (rr->text_len >= 2 && rr->text[rr->text_len - 2] == '\\'), "trailing dot: %s", rr->text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum mp_dns_type types[] = {
		MP_DNS_A, MP_DNS_AAAA, MP_DNS_TXT, MP_DNS_SPF, MP_DNS_MX,
		MP_DNS_PTR, MP_DNS_CNAME, MP_DNS_TLSA,
	};
	struct mp_dns_rr rr;
	const char *why = NULL;
	enum mp_dns_type t;

	if (size < 1)
		return 0;
	t = types[data[0] % MP_ARRAY_SIZE(types)];
	memset(&rr, 0x5a, sizeof(rr));
	if (!mp_dns_parse_rdata(t, data + 1, size - 1, &rr, &why)) {
		FZ_CHECK(why != NULL && rr.text == NULL && rr.tlsa_data == NULL, "refusal not empty");
		return 0;
	}
	switch (t) {
	case MP_DNS_MX:
	case MP_DNS_PTR:
	case MP_DNS_CNAME:
		check_name(&rr);
		break;
	case MP_DNS_TXT:
	case MP_DNS_SPF:
		FZ_CHECK(rr.text != NULL && rr.text_len <= MP_DNS_MAX_TXT &&
		    rr.text[rr.text_len] == '\0', "txt");
		break;
	case MP_DNS_A:
		FZ_CHECK(size - 1 == 4 && rr.text != NULL, "A of %zu bytes", size - 1);
		break;
	case MP_DNS_AAAA:
		FZ_CHECK(size - 1 == 16 && rr.text != NULL, "AAAA of %zu bytes", size - 1);
		break;
	case MP_DNS_TLSA:
		FZ_CHECK(size - 1 >= 3 && rr.tlsa_len == size - 4, "tlsa");
		break;
	}
	mp_dns_rr_clear(&rr);
	return 0;
}
