# shellcheck shell=bash disable=SC2034  # SC2034: the settings below are used by the files that source this one
# Shared helpers and settings for deploy/native/*.sh. Sourced by stack.sh; not executable on its own.

: "${SALESFLOW_STATE_DIR:=$HOME/.cache/salesflow}"
: "${SALESFLOW_PG_PORT:=5432}"
: "${SALESFLOW_KAFKA_PORT:=9092}"
: "${SALESFLOW_KAFKA_CONTROLLER_PORT:=9093}"

# Every process of the stack listens here and nowhere else.
readonly SALESFLOW_HOST=127.0.0.1
# The application's role; password auth over 127.0.0.1 (see deploy/postgres/init-databases.sql).
readonly SALESFLOW_PG_USER=salesflow
readonly SALESFLOW_PG_PASSWORD=salesflow
# service name (the *_DATABASE_URL prefix, lower-cased) -> database salesflow_<name>
readonly SALESFLOW_SERVICES=(leads orders aftersales reporting)

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/${SALESFLOW_HOST}/$1") 2>/dev/null
}

# pid_alive PID: true when the process exists.
pid_alive() {
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null
}

# now: seconds since the epoch (bash builtin clock, no fork).
now() { printf '%s' "$EPOCHSECONDS"; }
