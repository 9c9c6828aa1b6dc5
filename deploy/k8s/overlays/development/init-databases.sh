#!/bin/bash
# One database and one login role per service, created when PostgreSQL initialises an
# empty data directory (docker-entrypoint-initdb.d: compose and the development overlay).
# Each service owns its database and cannot read another's.
#
# Reads <SERVICE>_DB_PASSWORD for auth, billing, usage and llm_proxy.
set -euo pipefail

for db in auth billing usage llm_proxy; do
  var="$(echo "$db" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="${!var:?$var must be set for the $db database}"
  # psql variables (:'password') quote the value, so any character is safe in a password.
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="tollgate_$db" -v db="$db" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
  echo "init-databases: created database $db owned by tollgate_$db"
done
