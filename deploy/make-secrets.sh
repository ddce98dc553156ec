#!/bin/sh
# Writes the secrets deploy/docker-compose.yml reads into deploy/secrets/ (mode 0600, never committed).
# Existing files are kept, so running it again never changes a password the database already has.
# The TLS pair is self-signed for a first try: put the hospital's certificate and key in tls_cert / tls_key.
set -eu
cd "$(dirname "$0")/secrets"
umask 077

write() { [ -s "$1" ] || { printf '%s' "$2" > "$1"; echo "wrote deploy/secrets/$1"; }; }

write postgres_password "$(openssl rand -hex 24)"
write database_url "postgresql://polyp_user:$(cat postgres_password)@postgres-db:5432/polyp_detections"
write master_key "$(openssl rand -base64 32)"
write jwt_secret "$(openssl rand -base64 48)"
write pseudonym_key "$(openssl rand -base64 48)"
if [ ! -s tls_cert ] || [ ! -s tls_key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=${POLYPDET_HOSTNAME:-localhost}" -addext "subjectAltName=DNS:${POLYPDET_HOSTNAME:-localhost}" \
    -keyout tls_key -out tls_cert 2>/dev/null
  echo "wrote deploy/secrets/tls_cert and tls_key (self-signed for ${POLYPDET_HOSTNAME:-localhost})"
fi
