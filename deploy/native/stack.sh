#!/usr/bin/env bash
# salesflow infrastructure (Kafka + PostgreSQL) on loopback, with or without Docker.
#
#   stack.sh up                  start what is not running, reuse what is (idempotent); Keycloak too
#   stack.sh keycloak            only Keycloak (the OIDC issuer), idempotent
#   stack.sh down                stop Kafka and PostgreSQL
#   stack.sh status              print what runs; exit 0 when both are up, 3 otherwise
#   stack.sh env                 print the environment contract as `export` lines: eval "$(stack.sh env)"
#   stack.sh logs kafka|postgres [N|-f]   last N (100) log lines, or follow
#   stack.sh kafka-security      only add the SCRAM users and ACLs (the compose path's kafka-security container)
#
# Where a Docker daemon answers (`docker info`), up/down/status/logs use `docker compose -f deploy/compose.yaml`
# (or v1's docker-compose)
# (services kafka and postgres only); otherwise the native stack: deploy/native/postgres.sh and kafka.sh.
# Force a path with SALESFLOW_STACK=native|docker (default auto).
#
# Settings (environment): SALESFLOW_STATE_DIR (~/.cache/salesflow), SALESFLOW_PG_PORT (5432),
# SALESFLOW_KAFKA_PORT (9092), SALESFLOW_KAFKA_CONTROLLER_PORT (9093), SALESFLOW_KAFKA_HEAP_OPTS,
# SALESFLOW_KAFKA_START_TIMEOUT (600 s), SALESFLOW_PG_CLUSTER (e.g. 15/main), SALESFLOW_KEYCLOAK (on; off: no
# Keycloak for a stack whose services trust another issuer, e.g. the fault suite's private one). See deploy/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
shopt -s inherit_errexit

NATIVE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPLOY_DIR="$(dirname "$NATIVE_DIR")"
COMPOSE_FILE="$DEPLOY_DIR/compose.yaml"

# shellcheck source=common.sh
source "$NATIVE_DIR/common.sh"
# shellcheck source=postgres.sh
source "$NATIVE_DIR/postgres.sh"
# shellcheck source=kafka.sh
source "$NATIVE_DIR/kafka.sh"
# shellcheck source=keycloak.sh
source "$NATIVE_DIR/keycloak.sh"

usage() {
  sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# ------------------------------------------------------------------------------------------- path selection

use_docker() {
  case "${SALESFLOW_STACK:-auto}" in
    native) return 1 ;;
    docker) return 0 ;;
    auto) command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 ;;
    *) die "SALESFLOW_STACK must be native, docker or auto (got '${SALESFLOW_STACK}')" ;;
  esac
}

# Compose v2 (the docker plugin) or v1 (docker-compose, e.g. Debian's 1.29). The project is named with -p: v1
# rejects a top-level `name:` in the file. v1 has no `up --wait`; docker_up waits on the ports either way.
compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p salesflow -f "$COMPOSE_FILE" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    local args=() arg
    for arg in "$@"; do [[ $arg == --wait ]] || args+=("$arg"); done
    docker-compose -p salesflow -f "$COMPOSE_FILE" "${args[@]}"
  else
    die "the Docker path needs Compose: the v2 plugin ('docker compose') or v1 ('docker-compose')"
  fi
}

# --------------------------------------------------------------------------------------------- docker path

docker_wait_port() {
  local name="$1" port="$2" deadline=$(($(now) + 120))
  until port_open "$port"; do
    (($(now) < deadline)) || die "$name: port $port not open after 120s (see 'stack.sh logs $name')"
    sleep 1
  done
}

docker_up() {
  log "docker daemon found: using docker compose ($COMPOSE_FILE)"
  compose up -d --wait kafka postgres >&2
  docker_wait_port postgres "$SALESFLOW_PG_PORT"
  docker_wait_port kafka "$SALESFLOW_KAFKA_PORT"
  # SCRAM users and ACLs (idempotent); the app services of compose wait for it themselves.
  compose run --rm --no-deps kafka-security >&2
}

docker_status() {
  local rc=0
  compose ps kafka postgres || true
  if port_open "$SALESFLOW_KAFKA_PORT"; then echo "kafka:    up       $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT (docker)"; else echo "kafka:    down"; rc=1; fi
  if port_open "$SALESFLOW_PG_PORT"; then echo "postgres: up       $SALESFLOW_HOST:$SALESFLOW_PG_PORT (docker)"; else echo "postgres: down"; rc=1; fi
  return "$rc"
}

# -------------------------------------------------------------------------------------------- subcommands

# Serialises up/down (tests may call `up` from several processes at once). The lock is on fd 9, which the
# daemons started meanwhile must not inherit (kafka.sh and postgres.sh close it with 9>&-).
take_lock() {
  mkdir -p "$SALESFLOW_STATE_DIR"
  exec 9>>"$SALESFLOW_STATE_DIR/stack.lock"
  if ! flock -n 9; then
    log "another stack.sh up/down is running; waiting for it (up to 300s)"
    flock -w 300 9 || die "could not take $SALESFLOW_STATE_DIR/stack.lock within 300s"
  fi
}

cmd_up() {
  local started
  started="$(now)"
  take_lock
  if use_docker; then
    docker_up
  else
    pg_up
    kafka_up
  fi
  # Keycloak runs natively on either path (a JVM, like the native Kafka).
  if keycloak_wanted; then keycloak_up; fi
  log "stack up in $(($(now) - started))s; environment: eval \"\$($0 env)\""
}

cmd_down() {
  take_lock
  if use_docker; then
    compose stop kafka postgres >&2
  else
    kafka_down
    pg_down
  fi
  if keycloak_wanted; then keycloak_down; fi
}

cmd_status() {
  local rc=0
  if use_docker; then
    docker_status || rc=3
  else
    pg_status || rc=3
    kafka_status || rc=3
  fi
  if keycloak_wanted; then keycloak_status || rc=3; fi
  return "$rc"
}

# The unprefixed Kafka credentials and SALESFLOW_PG_ADMIN_DSN are the admin's (tests, tools, ops); each service
# gets its own database role and Kafka principal through its prefixed variables (LEADS_DATABASE_URL,
# LEADS_KAFKA_SASL_USERNAME ...), which it prefers over the unprefixed ones (shared/settings.py).
cmd_env() {
  local server="${SALESFLOW_HOST}:${SALESFLOW_PG_PORT}" svc role
  echo "export KAFKA_BOOTSTRAP_SERVERS=${SALESFLOW_HOST}:${SALESFLOW_KAFKA_PORT}"
  echo "export KAFKA_SECURITY_PROTOCOL=${SALESFLOW_KAFKA_SECURITY_PROTOCOL}"
  echo "export KAFKA_SASL_MECHANISM=${SALESFLOW_KAFKA_SASL_MECHANISM}"
  echo "export KAFKA_SASL_USERNAME=${SALESFLOW_KAFKA_ADMIN_USER}"
  echo "export KAFKA_SASL_PASSWORD=${SALESFLOW_KAFKA_ADMIN_PASSWORD}"
  echo "export SALESFLOW_PG_ADMIN_DSN=postgresql://${SALESFLOW_PG_USER}:${SALESFLOW_PG_PASSWORD}@${server}/postgres"
  for svc in "${SALESFLOW_SERVICES[@]}"; do
    role="$(pg_service_role "$svc")"
    echo "export ${svc^^}_DATABASE_URL=postgresql://${role}:${role}@${server}/${role}"
    echo "export ${svc^^}_KAFKA_SASL_USERNAME=${svc}"
    echo "export ${svc^^}_KAFKA_SASL_PASSWORD=$(kafka_service_password "$svc")"
  done
  # The outside systems' principals (the simulated shop and call center of the tests): SHOP_KAFKA_SASL_*,
  # CALL_CENTER_KAFKA_SASL_*.
  for svc in "${SALESFLOW_INBOUND_WRITERS[@]}"; do
    role="${svc//-/_}"
    echo "export ${role^^}_KAFKA_SASL_USERNAME=${svc}"
    echo "export ${role^^}_KAFKA_SASL_PASSWORD=$(kafka_service_password "$svc")"
  done
  if keycloak_wanted; then keycloak_env; fi
}

cmd_logs() {
  local what="${1:-}"
  if (($# > 0)); then shift; fi
  case "$what" in
    kafka | postgres) ;;
    *) usage ;;
  esac
  if use_docker; then
    if [[ "${1:-}" == "-f" ]]; then
      compose logs -f --tail 100 "$what"
    else
      compose logs --tail "${1:-100}" "$what"
    fi
  elif [[ "$what" == kafka ]]; then
    kafka_logs "$@"
  else
    pg_logs "$@"
  fi
}

main() {
  local cmd="${1:-}"
  if (($# > 0)); then shift; fi
  case "$cmd" in
    up) cmd_up ;;
    keycloak) take_lock && keycloak_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    logs) cmd_logs "$@" ;;
    kafka-security) kafka_security ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
