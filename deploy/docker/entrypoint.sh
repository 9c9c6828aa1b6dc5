#!/bin/sh
# Container entrypoint shared by every Tollgate image.
#
#   serve    (default) run the service; with TOLLGATE_MIGRATE_ON_START=true, migrate first
#   migrate  upgrade the service's database and exit (compose one-shot, Kubernetes Job)
#   anything else is run as given, e.g. `python -m tollgate.shared.messaging.dead_letters list QUEUE`
#
# TOLLGATE_SERVICE_MODULE (set by the Dockerfile's build arguments) names the package:
# tollgate.auth ...
# TOLLGATE_HAS_MIGRATIONS is "false" for the gateway, which has no database.
set -eu

module="${TOLLGATE_SERVICE_MODULE:?TOLLGATE_SERVICE_MODULE is set by the Dockerfile}"
prefix="${TOLLGATE_SERVICE_PREFIX:?TOLLGATE_SERVICE_PREFIX is set by the Dockerfile}"
command="${1:-serve}"

# In a container the service listens on every interface, on its own port, unless told
# otherwise (<PREFIX>_HOST, <PREFIX>_PORT: the variables the service itself reads).
if [ -z "$(printenv "${prefix}_HOST" || true)" ]; then
  export "${prefix}_HOST=0.0.0.0"
fi
if [ -z "$(printenv "${prefix}_PORT" || true)" ]; then
  export "${prefix}_PORT=${TOLLGATE_DEFAULT_PORT:?TOLLGATE_DEFAULT_PORT is set by the Dockerfile}"
fi

migrate() {
  if [ "${TOLLGATE_HAS_MIGRATIONS:-true}" = "true" ]; then
    python -m "$module" migrate
  else
    echo "entrypoint: $module has no database; nothing to migrate"
  fi
}

case "$command" in
  serve)
    if [ "${TOLLGATE_MIGRATE_ON_START:-false}" = "true" ]; then
      migrate
    fi
    # exec: the service replaces the shell and receives SIGTERM itself (graceful shutdown).
    exec python -m "$module"
    ;;
  migrate)
    migrate
    ;;
  *)
    exec "$@"
    ;;
esac
