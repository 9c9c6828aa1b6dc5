#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer on localhost, then create one
# database and role per service (plus a *_test twin) and the RabbitMQ vhosts.
# Uses servers already running; otherwise installs Debian's packages (when root)
# and starts them. Running it again is harmless.
set -euo pipefail

PG_PORT=${PGPORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
AMQP_PORT=${AMQP_PORT:-5672}
DB_PASSWORD=${TOLLGATE_DB_PASSWORD:-tollgate}
SERVICES=(auth billing usage llm_proxy shared)  # shared: the library's own tests

say() { printf '\033[1mstack:\033[0m %s\n' "$*"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # port seconds what
  for _ in $(seq 1 "$(( $2 * 5 ))"); do listening "$1" && return 0; sleep 0.2; done
  say "$3 did not come up on port $1"; return 1
}

need_install=()
listening "$PG_PORT" || command -v pg_ctlcluster >/dev/null || need_install+=(postgresql)
listening "$REDIS_PORT" || command -v redis-server >/dev/null || need_install+=(redis-server)
listening "$AMQP_PORT" || command -v rabbitmq-server >/dev/null || need_install+=(rabbitmq-server)

if [ ${#need_install[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "missing: ${need_install[*]}. Install them (apt-get install ${need_install[*]}),"
    say "or run 'docker compose up -d postgres redis rabbitmq', then try again."
    exit 1
  fi
  say "installing ${need_install[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi

if ! listening "$PG_PORT"; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [ -z "$version" ]; then
    say "PostgreSQL is installed but has no cluster; create one with pg_createcluster"; exit 1
  fi
  say "starting PostgreSQL $version"
  pg_ctlcluster "$version" main start || true
  wait_for "$PG_PORT" 30 PostgreSQL
fi

if ! listening "$REDIS_PORT"; then
  say "starting Redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --save '' --appendonly no --logfile /tmp/tollgate-redis.log
  wait_for "$REDIS_PORT" 10 Redis
fi

if ! listening "$AMQP_PORT"; then
  say "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for "$AMQP_PORT" 90 RabbitMQ
  for _ in $(seq 1 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
fi

# Roles and databases. Peer authentication as the postgres user when we can;
# otherwise PGUSER/PGPASSWORD must name a role allowed to create roles and databases.
psql_admin() {
  if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
    su postgres -c "psql -v ON_ERROR_STOP=1 -qtA -p $PG_PORT $*"
  else
    psql -v ON_ERROR_STOP=1 -qtA -h 127.0.0.1 -p "$PG_PORT" "$@"
  fi
}
for svc in "${SERVICES[@]}"; do
  role="tollgate_$svc"
  exists=$(psql_admin "-c \"SELECT 1 FROM pg_roles WHERE rolname='$role'\"")
  if [ "$exists" != "1" ]; then
    psql_admin "-c \"CREATE ROLE $role LOGIN PASSWORD '$DB_PASSWORD'\"" >/dev/null
  fi
  dbs=("$svc" "${svc}_test" "${svc}_e2e")
  [ "$svc" = shared ] && dbs=("shared_test")
  for db in "${dbs[@]}"; do
    exists=$(psql_admin "-c \"SELECT 1 FROM pg_database WHERE datname='$db'\"")
    if [ "$exists" != "1" ]; then
      psql_admin "-c \"CREATE DATABASE $db OWNER $role\"" >/dev/null
      say "created database $db"
    fi
  done
done

if command -v rabbitmqctl >/dev/null; then
  for vhost in tollgate tollgate_test_{shared,gateway,auth,billing,usage,llm_proxy,e2e}; do
    if ! rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$vhost"; then
      rabbitmqctl -q add_vhost "$vhost" >/dev/null
      rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
      say "created RabbitMQ vhost $vhost"
    fi
  done
fi
say "PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, RabbitMQ :$AMQP_PORT ready"
