# shellcheck shell=bash
# Native PostgreSQL: Debian's `postgresql` package and its cluster tools (pg_lsclusters, pg_createcluster,
# pg_ctlcluster, pg_conftool). Sourced by stack.sh after common.sh; defines pg_up, pg_down, pg_status, pg_logs.
#
# The cluster is Debian's own (data in /var/lib/postgresql/<ver>/<name>, config in /etc/postgresql/<ver>/<name>),
# not the state dir: that is how the package is meant to be used and it survives `rm -rf $SALESFLOW_STATE_DIR`.
# Cluster choice: $SALESFLOW_PG_CLUSTER ("15/main") if set, else 15/main if it exists, else the first one listed,
# else a new "<newest installed version>/main".

PG_INIT_SQL="$(cd "$(dirname "${BASH_SOURCE[0]}")/../postgres" && pwd)/init-databases.sql"
PG_START_TIMEOUT="${SALESFLOW_PG_START_TIMEOUT:-60}"
PG_VERSION=""
PG_CLUSTER=""

# Runs a command as the `postgres` OS user (peer auth over the Unix socket), from / so no cwd warnings.
as_postgres() {
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -n -u postgres -- "$@")
  fi
}

# Runs a command as root (apt-get, pg_ctlcluster on a root-owned install).
as_root() {
  if ((EUID == 0)); then
    "$@"
  else
    sudo -n -- "$@"
  fi
}

pg_ensure_installed() {
  # The cluster tools and a server binary: a client-only install (psql) has neither.
  if command -v pg_ctlcluster >/dev/null 2>&1 && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    return 0
  fi
  log "postgres: no PostgreSQL server found, installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq || die "postgres: apt-get update failed"
  as_root apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib >&2 ||
    die "postgres: apt-get install postgresql failed"
}

# Sets PG_VERSION and PG_CLUSTER (the cluster may not exist yet: see pg_ensure_cluster).
pg_select_cluster() {
  local ver name rest wanted="${SALESFLOW_PG_CLUSTER:-}"
  if [[ -n "$wanted" ]]; then
    PG_VERSION="${wanted%%/*}" PG_CLUSTER="${wanted#*/}"
  elif [[ -d /etc/postgresql/15/main ]]; then
    PG_VERSION=15 PG_CLUSTER=main
  else
    while read -r ver name rest; do
      PG_VERSION="$ver" PG_CLUSTER="$name"
      break
    done < <(pg_lsclusters -h 2>/dev/null)
  fi
  if [[ -z "$PG_VERSION" ]]; then
    PG_VERSION="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -n | tail -n 1)"
    [[ -n "$PG_VERSION" ]] || die "postgres: no PostgreSQL server version under /usr/lib/postgresql"
    PG_CLUSTER=main
  fi
}

pg_ensure_cluster() {
  pg_select_cluster
  if [[ ! -d "/etc/postgresql/$PG_VERSION/$PG_CLUSTER" ]]; then
    log "postgres: creating cluster $PG_VERSION/$PG_CLUSTER"
    as_root pg_createcluster --port "$SALESFLOW_PG_PORT" "$PG_VERSION" "$PG_CLUSTER" >&2 ||
      die "postgres: pg_createcluster $PG_VERSION $PG_CLUSTER failed"
  fi
}

pg_conf_dir() { printf '/etc/postgresql/%s/%s' "$PG_VERSION" "$PG_CLUSTER"; }

pg_online() {
  [[ -d "$(pg_conf_dir)" ]] || return 1
  as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1
}

# Digest of the config files stack.sh manages (some may not exist yet).
pg_conf_digest() {
  local f
  for f in "$1/postgresql.conf" "$1/conf.d/salesflow.conf" "$1/pg_hba.conf"; do
    if [[ -f "$f" ]]; then cat "$f"; fi
  done | md5sum
}

# Applies the salesflow settings. Prints "changed" when a file changed (these settings need a restart).
pg_configure() {
  local dir before after
  dir="$(pg_conf_dir)"
  before="$(pg_conf_digest "$dir")"
  # The port goes into postgresql.conf itself: Debian's tools (pg_lsclusters, pg_ctlcluster, psql's cluster
  # lookup) read it from there. listen_addresses goes into conf.d (included last, so it wins); any value in
  # postgresql.conf is commented out so nothing contradicts it.
  as_root pg_conftool "$PG_VERSION" "$PG_CLUSTER" set port "$SALESFLOW_PG_PORT"
  if grep -Eq '^[[:space:]]*listen_addresses' "$dir/postgresql.conf"; then
    as_root pg_conftool "$PG_VERSION" "$PG_CLUSTER" remove listen_addresses
  fi
  as_root mkdir -p "$dir/conf.d"
  as_root tee "$dir/conf.d/salesflow.conf" >/dev/null <<EOF
# Written by salesflow deploy/native/postgres.sh on 'stack.sh up'. Do not edit: changes are overwritten.
# Dev/test settings for a 2-core box; the port is set in postgresql.conf (Debian's tools read it there).
listen_addresses = '${SALESFLOW_HOST}'   # loopback only
max_connections = 300            # 4 services x pools + tests + relays
shared_buffers = 512MB
effective_cache_size = 2GB
work_mem = 8MB
maintenance_work_mem = 128MB
max_wal_size = 2GB               # fewer checkpoints under the event-append load
checkpoint_timeout = 15min
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
password_encryption = scram-sha-256
EOF
  pg_ensure_hba "$dir/pg_hba.conf"
  after="$(pg_conf_digest "$dir")"
  [[ "$before" == "$after" ]] || echo changed
}

# Debian's default pg_hba.conf already has `host all all 127.0.0.1/32 scram-sha-256`; add it if it is missing.
pg_ensure_hba() {
  local hba="$1"
  if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+(scram-sha-256|md5)' "$hba"; then
    log "postgres: adding password auth for 127.0.0.1/32 to $hba"
    printf '%s\n' "host    all    all    127.0.0.1/32    scram-sha-256    # added by salesflow stack.sh" |
      as_root tee -a "$hba" >/dev/null
  fi
}

pg_wait_ready() {
  local deadline=$(($(now) + PG_START_TIMEOUT))
  until pg_isready -q -h "$SALESFLOW_HOST" -p "$SALESFLOW_PG_PORT" -t 1; do
    if (($(now) >= deadline)); then
      tail -n 30 "/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log" >&2 2>/dev/null || true
      die "postgres: not ready on $SALESFLOW_HOST:$SALESFLOW_PG_PORT after ${PG_START_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

# Roles and databases (idempotent SQL shared with the Docker path; it also migrates databases from before the
# per-service roles in place). Fed on stdin: the postgres OS user may not be able to read files in the repository.
pg_bootstrap() {
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$SALESFLOW_PG_PORT" -d postgres <"$PG_INIT_SQL" >/dev/null ||
    die "postgres: creating roles/databases failed ($PG_INIT_SQL)"
}

# ----------------------------------------------------------------------------------------------- subcommands

pg_up() {
  local changed started
  started="$(now)"
  pg_ensure_installed
  pg_ensure_cluster
  changed="$(pg_configure)"
  if pg_online; then
    if [[ -n "$changed" ]]; then
      log "postgres: configuration changed, restarting $PG_VERSION/$PG_CLUSTER"
      as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" restart -m fast >&2 9>&-
    else
      log "postgres: $PG_VERSION/$PG_CLUSTER already running on $SALESFLOW_HOST:$SALESFLOW_PG_PORT, reusing it"
    fi
  else
    if port_open "$SALESFLOW_PG_PORT"; then
      die "postgres: $SALESFLOW_HOST:$SALESFLOW_PG_PORT is taken by another process; set SALESFLOW_PG_PORT"
    fi
    log "postgres: starting $PG_VERSION/$PG_CLUSTER on $SALESFLOW_HOST:$SALESFLOW_PG_PORT"
    as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start >&2 9>&- ||
      die "postgres: pg_ctlcluster start failed (see 'stack.sh logs postgres')"
  fi
  pg_wait_ready
  pg_bootstrap
  log "postgres: ready (admin role $SALESFLOW_PG_USER; databases, each owned by the role of its name: ${SALESFLOW_SERVICES[*]/#/salesflow_}) in $(($(now) - started))s"
}

pg_down() {
  command -v pg_ctlcluster >/dev/null 2>&1 || { log "postgres: not installed"; return 0; }
  pg_select_cluster
  if pg_online; then
    log "postgres: stopping $PG_VERSION/$PG_CLUSTER"
    as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" stop -m fast >&2
  else
    log "postgres: not running"
  fi
}

# Exit 0 when the server accepts connections on the configured port.
pg_status() {
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$SALESFLOW_HOST" -p "$SALESFLOW_PG_PORT" -t 2; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
      pg_select_cluster
      echo "postgres: up       $SALESFLOW_HOST:$SALESFLOW_PG_PORT (native cluster $PG_VERSION/$PG_CLUSTER)"
    else
      echo "postgres: up       $SALESFLOW_HOST:$SALESFLOW_PG_PORT"
    fi
    return 0
  fi
  echo "postgres: down"
  return 1
}

pg_logs() {
  local file
  pg_select_cluster
  file="/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"
  [[ -f "$file" ]] || die "postgres: no log yet ($file)"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n 100 -F "$file"
  fi
  tail -n "${1:-100}" "$file"
}
