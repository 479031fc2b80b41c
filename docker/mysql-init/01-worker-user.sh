#!/bin/bash
# Runs once, when the MySQL data volume is first created (docker-entrypoint-initdb.d).
# Creates the least-privileged account that workers and notebooks use: full rights on the
# pipeline's own schemas (names start with PIPELINE_PREFIX) and nothing else, except
# PROCESS, which lets a worker see which connections are alive and so release the jobs of
# a worker that was killed.
set -euo pipefail
: "${WORKER_USER:?set WORKER_USER in .env}"
: "${WORKER_PASSWORD:?set WORKER_PASSWORD in .env}"
prefix="${PIPELINE_PREFIX:-cotrain_}"
# '_' is a wildcard in GRANT database patterns; escape it so the grant covers the prefix only.
pattern="${prefix//_/\\_}%"
mysql -uroot -p"${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE USER IF NOT EXISTS '${WORKER_USER}'@'%' IDENTIFIED BY '${WORKER_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${pattern}\`.* TO '${WORKER_USER}'@'%';
GRANT PROCESS ON *.* TO '${WORKER_USER}'@'%';
FLUSH PRIVILEGES;
SQL
