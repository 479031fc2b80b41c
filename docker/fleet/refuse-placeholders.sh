#!/bin/sh
# Every service starts through this: it refuses to start while a secret is empty or still
# holds the placeholder of .env.example, then runs the service's own command.
set -eu
for name in MYSQL_ROOT_PASSWORD WORKER_PASSWORD NOTEBOOK_PASSWORD STORE_PASSWORD JUPYTER_TOKEN DJ_PASS; do
  eval "set_=\${$name+x}"
  [ -n "$set_" ] || continue  # this service does not use it
  eval "value=\${$name}"
  case "$value" in
    ""|change-me*)
      echo "refusing to start: $name is empty or still the placeholder from .env.example; set it in .env" >&2
      exit 64 ;;
  esac
done
exec "$@"
