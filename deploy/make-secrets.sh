#!/bin/sh
# Creates the secret files deploy/compose.yaml mounts (deploy/secrets/ unless SECRETS_DIR
# says otherwise), each only when missing: an existing file is never overwritten (rotation
# is by hand: docs/deployment.md, "Secrets"). Passwords are random hex, so the MongoDB URI
# needs no escaping. The bot token comes from BOT_TOKEN, or write it into bot_token.
#
# Run as root on the Docker host: the files get mode 0640 and the group of the bot's user
# in the image (gid 10001), so the bot reads them and nobody else does.
set -eu

dir=${SECRETS_DIR:-$(dirname "$0")/secrets}
app_user=${APP_USER:-six_circles}
app_db=${APP_DB:-six_circles}
members=${RS_MEMBERS:-mongo1:27017,mongo2:27017,mongo3:27017}
rs_name=${RS_NAME:-rs0}
bot_gid=${BOT_GID:-10001}
# The bot's connection options (docs/deployment.md, "MongoDB"); replicaSet comes first.
uri_options="replicaSet=$rs_name&authSource=admin&w=majority&wtimeoutMS=10000&readConcernLevel=majority&readPreference=primary&retryWrites=true&retryReads=true&maxPoolSize=50"

umask 077
mkdir -p "$dir"

random_hex() {
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

write() {
    if [ -e "$dir/$1" ]; then
        echo "kept    $dir/$1"
    else
        printf '%s\n' "$2" > "$dir/$1"
        echo "created $dir/$1"
    fi
}

write mongo_root_password "$(random_hex 24)"
write mongo_app_password "$(random_hex 24)"
write mongo_backup_password "$(random_hex 24)"
# The replica set members' shared key (6-1024 base64 characters; hex is a subset).
write mongo_keyfile "$(random_hex 384)"
write webhook_secret "$(random_hex 32)"
# The key of the tips' keyed hashes: the same for every instance, never in the database
# or its backups; keep a copy with the backups' keys (docs/deployment.md, "Secrets").
write tips_id_key "$(random_hex 32)"
write mongodb_uri "mongodb://$app_user:$(cat "$dir/mongo_app_password")@$members/$app_db?$uri_options"
if [ -n "${BOT_TOKEN:-}" ]; then
    write bot_token "$BOT_TOKEN"
elif [ ! -e "$dir/bot_token" ]; then
    echo "missing $dir/bot_token: write the token from @BotFather into it" >&2
fi

if chgrp "$bot_gid" "$dir" "$dir"/* 2>/dev/null; then
    chmod 0750 "$dir"
    chmod 0640 "$dir"/*
else
    echo "warning: cannot give group $bot_gid read access (not root?); the bot runs as uid 10001 and must read these files" >&2
fi
