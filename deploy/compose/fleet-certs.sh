#!/bin/sh
# The `certs` one-shot of deploy/compose/fleet.yml: a throwaway test CA and the NATS hub's leafnode
# certificate, for trying the fleet on one Docker host. A real deployment brings its own CA and
# certificates (the hub's with its real DNS name or IP in the SAN) and drops this service.
#
#   FULCRUM_HUB_TLS_DIR   written: hub.pem, hub.key (the hub's certificate, its key) and ca.pem
#   FULCRUM_CA_DIR        written: ca.pem only (what the boards' leaf servers trust)
#   FULCRUM_HUB_SAN       the hub certificate's subjectAltName (default DNS:hub, the compose name)
#
# Runs with any POSIX sh and openssl >= 1.1.1 (the alpine/openssl image; or by hand:
# FULCRUM_HUB_TLS_DIR=/tmp/hub FULCRUM_CA_DIR=/tmp/ca sh deploy/compose/fleet-certs.sh).
# Idempotent: a hub certificate that still verifies against the CA and is valid for another day is
# kept; otherwise a new CA and certificate are made. The CA's key is not kept anywhere.
set -eu

HUB_DIR=${FULCRUM_HUB_TLS_DIR:-/tls/hub}
CA_DIR=${FULCRUM_CA_DIR:-/tls/ca}
SAN=${FULCRUM_HUB_SAN:-DNS:hub}
DAYS=${FULCRUM_CERT_DAYS:-825}

mkdir -p "$HUB_DIR" "$CA_DIR"

if [ -s "$HUB_DIR/hub.pem" ] && [ -s "$HUB_DIR/hub.key" ] && [ -s "$CA_DIR/ca.pem" ] \
  && cmp -s "$CA_DIR/ca.pem" "$HUB_DIR/ca.pem" \
  && openssl verify -CAfile "$CA_DIR/ca.pem" "$HUB_DIR/hub.pem" >/dev/null 2>&1 \
  && openssl x509 -in "$HUB_DIR/hub.pem" -noout -checkend 86400 >/dev/null \
  && [ "$(openssl x509 -in "$HUB_DIR/hub.pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')" = "$(printf '%s' "$SAN" | sed 's/IP:/IPAddress:/g' | tr -d ' ')" ]; then
  echo "certs: keeping the hub certificate in $HUB_DIR ($SAN), valid until $(openssl x509 -in "$HUB_DIR/hub.pem" -noout -enddate | cut -d= -f2)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The CA: P-256, CA:TRUE, signs certificates only.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days "$DAYS" \
  -subj "/O=Fulcrum/CN=Fulcrum compose test CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null

# The hub's leafnode certificate: a server certificate for $SAN (Go checks the SAN, not the CN).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
  -subj "/O=Fulcrum/CN=fulcrum-nats-hub" -keyout "$work/hub.key" -out "$work/hub.csr" 2>/dev/null
cat >"$work/hub.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$SAN
EOF
openssl x509 -req -in "$work/hub.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -sha256 -days "$DAYS" -extfile "$work/hub.ext" -out "$work/hub.pem" 2>/dev/null
openssl verify -CAfile "$work/ca.pem" "$work/hub.pem" >/dev/null

# Into place: the key readable by its owner only (the NATS containers run as root).
umask 077
cp "$work/hub.key" "$HUB_DIR/hub.key"
umask 022
cp "$work/hub.pem" "$HUB_DIR/hub.pem"
cp "$work/ca.pem" "$HUB_DIR/ca.pem"
cp "$work/ca.pem" "$CA_DIR/ca.pem"
chmod 600 "$HUB_DIR/hub.key"
chmod 644 "$HUB_DIR/hub.pem" "$HUB_DIR/ca.pem" "$CA_DIR/ca.pem"
echo "certs: new test CA and hub certificate ($SAN) in $HUB_DIR; the CA certificate in $CA_DIR"
