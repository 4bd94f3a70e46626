# shellcheck shell=bash disable=SC2034  # SC2034: the settings below are used by the files that source this one
# Shared helpers and settings for deploy/native/*.sh. Sourced by stack.sh; not executable on its own.

: "${SALESFLOW_STATE_DIR:=$HOME/.cache/salesflow}"
: "${SALESFLOW_PG_PORT:=5432}"
: "${SALESFLOW_KAFKA_PORT:=9092}"
: "${SALESFLOW_KAFKA_CONTROLLER_PORT:=9093}"

# Every process of the stack listens here and nowhere else.
readonly SALESFLOW_HOST=127.0.0.1
# PostgreSQL admin role (tests create throw-away databases with it; ops): LOGIN CREATEDB, not a superuser.
# Each service connects as its own role salesflow_<name>, which owns database salesflow_<name> and nothing else
# (deploy/postgres/init-databases.sql). Dev/test credentials on loopback only; the password equals the role name.
readonly SALESFLOW_PG_USER=salesflow
readonly SALESFLOW_PG_PASSWORD=salesflow
# service name (the *_DATABASE_URL prefix, lower-cased) -> database and role salesflow_<name>
readonly SALESFLOW_SERVICES=(leads orders aftersales reporting webhooks)
# The outside systems that write salesflow's inbound topics (DESIGN §9): their Kafka principals (SCRAM users,
# password <name>-secret like the services'); what each may write is its row in deploy/kafka/acls.tsv.
readonly SALESFLOW_INBOUND_WRITERS=(call-center shop)

# Kafka: SASL/SCRAM-SHA-512 on the client listener, StandardAuthorizer with ACLs (deploy/native/kafka.sh).
# `admin` is the super user (ops, tests, the broker itself); each service has the principal User:<name> with
# password <name>-secret. Dev/test credentials on loopback only.
readonly SALESFLOW_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT
readonly SALESFLOW_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
readonly SALESFLOW_KAFKA_ADMIN_USER=admin
readonly SALESFLOW_KAFKA_ADMIN_PASSWORD=admin-secret
# The default topic prefix; the ACLs are written for it (tests use their own prefixes as admin).
readonly SALESFLOW_TOPIC_PREFIX_DEFAULT=salesflow

pg_service_role() { printf 'salesflow_%s' "$1"; }
kafka_service_password() { printf '%s-secret' "$1"; }

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
