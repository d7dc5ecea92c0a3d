#!/usr/bin/env bash
# Creates a throwaway CA, a server certificate for localhost/127.0.0.1 and
# client certificates (good, expired, from an unknown CA) in DIR, for local
# TLS and mTLS: scripts/gen-test-certs.sh DIR. ECDSA P-256 keys; openssl.
set -euo pipefail
dir=${1:?usage: gen-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # name subject
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -sha256 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$1.pem"
}

leaf() { # name subject ca ext [startdate enddate]
	key "$1.key"
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
	printf '%s\n' "$4" >"$1.ext"
	if [ -n "${5:-}" ]; then
		# An expired certificate: `openssl ca` is the tool that takes explicit dates.
		mkdir -p "ca-$1"
		: >"ca-$1/index.txt"
		echo 01 >"ca-$1/serial"
		cat >"ca-$1/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = ca-$1/index.txt
serial = ca-$1/serial
new_certs_dir = ca-$1
default_md = sha256
policy = p
copy_extensions = none
[p]
commonName = supplied
CNF
		openssl ca -batch -config "ca-$1/ca.cnf" -cert "$3.pem" -keyfile "$3.key" \
			-in "$1.csr" -out "$1.pem" -startdate "$5" -enddate "$6" -extfile "$1.ext" \
			-notext 2>/dev/null
	else
		openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 825 \
			-sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
	fi
	rm -f "$1.csr" "$1.ext"
}

ca ca "/CN=sluice test CA"
ca other-ca "/CN=some other CA"
leaf server "/CN=localhost" ca "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client "/CN=acme-backend" ca "extendedKeyUsage=clientAuth"
leaf client-expired "/CN=acme-backend" ca "extendedKeyUsage=clientAuth" 20200101000000Z 20200201000000Z
leaf client-unknown "/CN=acme-backend" other-ca "extendedKeyUsage=clientAuth"
leaf client-other "/CN=not-a-customer" ca "extendedKeyUsage=clientAuth"
# SHA-256 fingerprint of the good client certificate's DER, as policies name it.
openssl x509 -in client.pem -outform DER | sha256sum | cut -d' ' -f1 >client.sha256
echo "certificates in $dir: ca.pem server.pem/server.key client.pem/client.key client-expired.* client-unknown.* client-other.*"
