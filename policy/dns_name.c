/*
 * dns_name: domain names in and out of the resolver. Reverse names and
 * the check of a query name on the way in; on the way out, names from
 * rdata (wire format) and libunbound's canonname (text) both become the
 * one text form of dns.h, so callers compare and validate one form.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "dns_int.h"

bool
mp_dns_reverse_name(const char *ip, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct in_addr a4;
	struct in6_addr a6;
	const unsigned char *b;
	struct mp_buf buf = MP_BUF_INIT;
	bool ok;

	if (out == NULL || outlen == 0)
		return false;
	out[0] = '\0';
	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		b = (const unsigned char *)&a4;
		mp_buf_printf(&buf, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
	} else if (inet_pton(AF_INET6, ip, &a6) == 1) {
		b = a6.s6_addr;
		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			mp_buf_printf(&buf, "%u.%u.%u.%u.in-addr.arpa",
			    b[15], b[14], b[13], b[12]);
		} else {
			for (int i = 15; i >= 0; i--) {
				mp_buf_putc(&buf, hex[b[i] & 0x0f]);
				mp_buf_putc(&buf, '.');
				mp_buf_putc(&buf, hex[b[i] >> 4]);
				mp_buf_putc(&buf, '.');
			}
			mp_buf_puts(&buf, "ip6.arpa");
		}
	} else
		return false;
	ok = mp_strlcpy(out, mp_buf_str(&buf), outlen);
	if (!ok)
		out[0] = '\0';
	mp_buf_free(&buf);
	return ok;
}

/* The bytes a hostname label may hold; anything else is escaped. */
static bool
label_byte_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void
name_putc(struct mp_buf *out, unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	if (label_byte_plain(c))
		mp_buf_putc(out, (char)c);
	else
		mp_buf_printf(out, "\\%03u", c);
}

/*
 * libunbound hands over rdata with names already decompressed; a
 * compression pointer here means corrupt data, so it is refused rather
 * than followed.
 */
bool
dns_name_from_wire(const unsigned char *rd, size_t len, size_t *off, struct mp_buf *out,
    const char **why_r)
{
	size_t p = *off, wire = 0;
	bool first = true;

	for (;;) {
		unsigned lab;

		if (p >= len) {
			*why_r = "name runs past the rdata";
			return false;
		}
		lab = rd[p++];
		wire++;
		if (lab == 0)
			break;
		if (lab > 63) {
			*why_r = (lab & 0xc0) == 0xc0 ? "compressed name in rdata" :
			    "bad label length in rdata";
			return false;
		}
		if (lab > len - p) {
			*why_r = "label runs past the rdata";
			return false;
		}
		wire += lab;
		if (wire > MP_DNS_NAME_MAX) {
			*why_r = "name longer than 255 bytes";
			return false;
		}
		if (!first)
			mp_buf_putc(out, '.');
		first = false;
		for (unsigned i = 0; i < lab; i++)
			name_putc(out, rd[p + i]);
		p += lab;
	}
	*off = p;
	return true;
}

bool
dns_query_name_ok(const char *name)
{
	size_t len, lab = 0;

	if (name == NULL)
		return false;
	len = strnlen(name, MP_DNS_NAME_MAX + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		/*
		 * Backslash would start an escape in libunbound's parser.
		 * Space is allowed: DNS labels may hold any octet, and SPF
		 * macro expansion can produce one (RFC 7208 suite,
		 * macro-mania-in-domain); controls never reach a query.
		 */
		if (c < 0x20 || c > 0x7e || c == '\\')
			return false;
		if (++lab > 63)
			return false;
	}
	return true;
}

/* canonname comes as text from libunbound: normalise it like rdata names. */
char *
dns_canon_text(const char *s)
{
	struct mp_buf out = MP_BUF_INIT;
	size_t len = strnlen(s, 4 * MP_DNS_NAME_MAX);

	if (len > 0 && s[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.')
			mp_buf_putc(&out, '.');
		else
			name_putc(&out, (unsigned char)s[i]);
	}
	return mp_buf_steal(&out);
}

bool
dns_same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && mp_strncasecmp(a, b, la) == 0;
}
