#!/bin/sh
# The images' entrypoint (deploy/Dockerfile): one role per container (spec §1, §9).
#
#   migrate [OWNER...]   apply the Alembic migrations once and exit (compose's `migrate`)
#   gateway              the dashboard and the JSON API on GATEWAY_HOST:GATEWAY_PORT
#                        (DEBITO_MIGRATE=1 migrates the gateway's schema first: its image
#                        holds no service's migrations; for a lone container only, never
#                        for replicas, which would race each other)
#   mandates | plans | payments | signing | reporting | scheduler
#                        one nameko service in the foreground
#   anything else        run as given, e.g. `debito merchant create ...`
#
# Each role is exec'd so that it receives the container's stop signal itself.
set -eu

role="${1:-gateway}"

case "$role" in
    migrate)
        shift
        exec debito migrate "$@"
        ;;
    gateway)
        if [ "${DEBITO_MIGRATE:-0}" = 1 ]; then
            debito migrate gateway
        fi
        exec debito gateway
        ;;
    mandates | plans | payments | signing | reporting | scheduler)
        exec debito service "$role"
        ;;
    *)
        exec "$@"
        ;;
esac
