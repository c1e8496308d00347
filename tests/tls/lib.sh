# Test-only certificates, made at test time: no key is ever committed.
# Source from bash. Every file is written under DIR, readable by all (a
# private Postfix reads them as the user postfix).
#   mp_tls_ca DIR
#       a root CA (DIR/root.pem, root.key) and an intermediate CA it
#       signed (DIR/inter.pem, inter.key); DIR/root.pem is the file to
#       give as [audit] ca_file
#   mp_tls_leaf DIR NAME ISSUER DAYS DNSNAME...
#       an RSA 2048 server certificate for the DNS names (the first is the
#       CN), signed by ISSUER (root, inter, or self), valid for DAYS days:
#       DIR/NAME.pem, DIR/NAME.key, and DIR/NAME-chain.pem (the key, the
#       certificate and, under inter, the intermediate: what Postfix's
#       smtpd_tls_chain_files takes)
#   mp_tls_spki_sha256 CERT / mp_tls_cert_sha256 CERT / mp_tls_cert_sha512 CERT
#       the TLSA association data (hex) for selector 1 or 0

mp_tls_ca() {
	local d=$1
	mkdir -p "$d"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/root.key" 2>/dev/null &&
	openssl req -x509 -new -key "$d/root.key" -subj "/CN=mailposture test root" -days 30 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$d/root.pem" 2>/dev/null &&
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/inter.key" 2>/dev/null &&
	openssl req -new -key "$d/inter.key" -subj "/CN=mailposture test intermediate" \
		-out "$d/inter.csr" 2>/dev/null &&
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$d/inter.ext" &&
	openssl x509 -req -in "$d/inter.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial \
		-days 30 -extfile "$d/inter.ext" -out "$d/inter.pem" 2>/dev/null || return 1
	chmod 644 "$d"/*.pem "$d"/*.key
}

mp_tls_leaf() {
	local d=$1 name=$2 issuer=$3 days=$4 san="" n
	shift 4
	for n in "$@"; do san="${san:+$san,}DNS:$n"; done
	openssl genrsa -out "$d/$name.key" 2048 2>/dev/null || return 1
	printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > "$d/$name.ext"
	if [ "$issuer" = self ]; then
		openssl req -x509 -new -key "$d/$name.key" -subj "/CN=$1" -days "$days" \
			-addext "subjectAltName=$san" -out "$d/$name.pem" 2>/dev/null || return 1
	else
		openssl req -new -key "$d/$name.key" -subj "/CN=$1" -out "$d/$name.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/$name.csr" -CA "$d/$issuer.pem" -CAkey "$d/$issuer.key" \
			-CAcreateserial -days "$days" -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null ||
			return 1
	fi
	cat "$d/$name.key" "$d/$name.pem" > "$d/$name-chain.pem"
	[ "$issuer" = inter ] && cat "$d/inter.pem" >> "$d/$name-chain.pem"
	chmod 644 "$d/$name.pem" "$d/$name.key" "$d/$name-chain.pem"
}

mp_tls_spki_sha256() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

mp_tls_cert_sha256() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

mp_tls_cert_sha512() {
	openssl x509 -in "$1" -outform DER | sha512sum | cut -d' ' -f1
}
