#!/bin/sh
# Entrypoint of the Compose `rabbitmq` service: assemble the definitions that RabbitMQ imports
# at boot, then start the server through the image's own entrypoint.
#
# Why: when definitions are imported at boot RabbitMQ does not create its default user, so
# the application user (from RABBITMQ_USER / RABBITMQ_PASSWORD in .env) is written next to
# the checked-in topology (definitions.json). The password never lands in the repository.
set -eu

user="${RABBITMQ_USER:?RABBITMQ_USER is not set}"
password="${RABBITMQ_PASSWORD:?RABBITMQ_PASSWORD is not set}"
case "${user}${password}" in
    *\"* | *\\*)
        echo "seed-definitions: RABBITMQ_USER and RABBITMQ_PASSWORD must not contain \" or \\" >&2
        exit 1
        ;;
esac

dir=/etc/rabbitmq/definitions.d
mkdir -p "$dir"
cp /etc/rabbitmq/optimizer-topology.json "$dir/20-topology.json"
umask 077
cat >"$dir/10-users.json" <<JSON
{
  "users": [{"name": "${user}", "password": "${password}", "tags": "administrator"}],
  "vhosts": [{"name": "/"}],
  "permissions": [
    {"user": "${user}", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
  ]
}
JSON
# The server runs as the `rabbitmq` user (the image's entrypoint steps down to it).
chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || chmod -R a+rX "$dir"

exec docker-entrypoint.sh rabbitmq-server
