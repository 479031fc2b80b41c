#!/bin/bash
# Runs once, when the MySQL data volume is first created (docker-entrypoint-initdb.d).
#
# WORKER_USER: what workers use. Full rights on the pipeline's own schemas (names start
# with PIPELINE_PREFIX) and nothing else, except PROCESS, which lets a worker see which
# connections are alive and so release the jobs of a worker that was killed.
#
# NOTEBOOK_USER: what Jupyter uses. It reads every pipeline schema and may add rows
# (populate without job reservations), but it can neither DELETE nor DROP anything in them;
# its own schemas (names start with NOTEBOOK_USER_) are its to do anything with.
#
# The root password reaches mysql through MYSQL_PWD, never on a command line.
set -euo pipefail
: "${WORKER_USER:?set WORKER_USER in .env}"
: "${WORKER_PASSWORD:?set WORKER_PASSWORD in .env}"
: "${NOTEBOOK_USER:?set NOTEBOOK_USER in .env}"
: "${NOTEBOOK_PASSWORD:?set NOTEBOOK_PASSWORD in .env}"
prefix="${PIPELINE_PREFIX:-cotrain_}"
# '_' is a wildcard in GRANT database patterns; escape it so a grant covers the prefix only.
pattern="${prefix//_/\\_}%"
own="${NOTEBOOK_USER//_/\\_}\\_%"
export MYSQL_PWD="${MYSQL_ROOT_PASSWORD}"
mysql -uroot <<SQL
CREATE USER IF NOT EXISTS '${WORKER_USER}'@'%' IDENTIFIED BY '${WORKER_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${pattern}\`.* TO '${WORKER_USER}'@'%';
GRANT PROCESS ON *.* TO '${WORKER_USER}'@'%';
CREATE USER IF NOT EXISTS '${NOTEBOOK_USER}'@'%' IDENTIFIED BY '${NOTEBOOK_PASSWORD}';
GRANT SELECT, INSERT, UPDATE, CREATE, INDEX, REFERENCES, SHOW VIEW ON \`${pattern}\`.* TO '${NOTEBOOK_USER}'@'%';
GRANT ALL PRIVILEGES ON \`${own}\`.* TO '${NOTEBOOK_USER}'@'%';
FLUSH PRIVILEGES;
SQL
