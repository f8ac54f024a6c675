#!/bin/sh
# secrets-env COMMAND [ARG]...: run COMMAND with secrets read from files.
#
# For BOT_TOKEN, WEBHOOK_SECRET, MONGODB_URI, TIPS_ID_KEY and any names listed in
# SECRET_VARS: when
# NAME_FILE is set, NAME is set to that file's content (trailing newlines removed) and
# NAME_FILE is unset. Docker secrets (/run/secrets/NAME) and systemd credentials
# ($CREDENTIALS_DIRECTORY/NAME) are such files; the values then appear in neither the
# compose file, `docker inspect` nor `systemctl show`. Setting both NAME and NAME_FILE,
# or naming an unreadable file, stops with exit status 2 (a configuration error, as the
# bot's own).
set -eu

for name in BOT_TOKEN WEBHOOK_SECRET MONGODB_URI TIPS_ID_KEY ${SECRET_VARS:-}; do
    case "$name" in
        [A-Z_]*) ;;
        *) echo "secrets-env: bad variable name in SECRET_VARS: $name" >&2; exit 2 ;;
    esac
    case "$name" in
        *[!A-Z0-9_]*) echo "secrets-env: bad variable name in SECRET_VARS: $name" >&2; exit 2 ;;
    esac
    eval "file=\${${name}_FILE:-}"
    [ -n "$file" ] || continue
    eval "current=\${${name}:-}"
    if [ -n "$current" ]; then
        echo "secrets-env: both $name and ${name}_FILE are set: keep one" >&2
        exit 2
    fi
    if [ ! -r "$file" ]; then
        echo "secrets-env: ${name}_FILE=$file cannot be read" >&2
        exit 2
    fi
    value=$(cat "$file")
    export "$name=$value"
    unset "${name}_FILE"
done

exec "$@"
