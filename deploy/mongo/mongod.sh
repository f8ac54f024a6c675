#!/bin/sh
# Entrypoint of the MongoDB containers (deploy/compose.yaml). Runs as root: hands the
# secrets to mongod in the form it insists on, then starts the image's own entrypoint
# (which drops to the mongodb user, and on mongo1's first start creates the root user).
#
# - the replica set's keyFile must belong to the mongodb user and be readable by it alone;
#   a Docker secret keeps the owner and mode of the file on the host, so it is copied;
# - MONGO_ROOT_PASSWORD_FILE (mongo1 only): copied the same way and handed over as
#   MONGO_INITDB_ROOT_PASSWORD_FILE (used once, when the data directory is empty).
set -eu

install -m 0400 -o mongodb -g mongodb /run/secrets/mongo_keyfile /etc/mongo-keyfile
if [ -n "${MONGO_ROOT_PASSWORD_FILE:-}" ]; then
    install -m 0400 -o mongodb -g mongodb "$MONGO_ROOT_PASSWORD_FILE" /etc/mongo-root-password
    export MONGO_INITDB_ROOT_PASSWORD_FILE=/etc/mongo-root-password
    unset MONGO_ROOT_PASSWORD_FILE
fi
exec docker-entrypoint.sh "$@"
