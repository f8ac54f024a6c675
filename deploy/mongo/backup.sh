#!/bin/sh
# One consistent backup of the whole replica set (all databases, users included) with
# mongodump --oplog, read from a secondary, written as one gzip archive to /backups.
# Run: docker compose --profile backup run --rm backup   (docs/deployment.md, "Backups").
set -eu

: "${RS_NAME:?}" "${RS_MEMBERS:?}" "${BACKUP_USER:?}" "${BACKUP_PASSWORD_FILE:?}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="/backups/six-circles-$stamp.archive.gz"
umask 077
# The password reaches mongodump through a config file, not its command line.
config=$(mktemp)
trap 'rm -f "$config" "$out.partial"' EXIT
printf 'password: "%s"\n' "$(cat "$BACKUP_PASSWORD_FILE")" > "$config"
mongodump \
    --uri "mongodb://${BACKUP_USER}@${RS_MEMBERS}/?replicaSet=${RS_NAME}&authSource=admin&readPreference=secondaryPreferred" \
    --config "$config" --oplog --gzip --archive="$out.partial"
mv "$out.partial" "$out"
echo "backup written: $out ($(du -h "$out" | cut -f1))"
