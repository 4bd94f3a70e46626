# shellcheck shell=bash
# Native Keycloak (the OIDC issuer every service trusts): the Quarkus distribution from Maven Central, run in
# development mode with an in-memory database and the realm imported from deploy/keycloak/realm-salesflow.json on
# every start (so the realm in the repository is the realm that runs; nothing to migrate). Loopback only.
# Sourced by stack.sh after common.sh; defines keycloak_up, keycloak_down, keycloak_status, keycloak_env.
#
# Keycloak needs Java 21+: SALESFLOW_KEYCLOAK_JAVA_HOME (default: the Temurin 25 JDK beside OpenJDK 17).
# Settings: SALESFLOW_KEYCLOAK_PORT (8180), SALESFLOW_KEYCLOAK_START_TIMEOUT (900 s: the first start also builds the server, minutes on a busy 2-core box).

KEYCLOAK_DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../keycloak" && pwd)"
KEYCLOAK_POM="$KEYCLOAK_DEPLOY_DIR/pom.xml"
KEYCLOAK_REALM_FILE="$KEYCLOAK_DEPLOY_DIR/realm-salesflow.json"
# The version is pinned in the pom and nowhere else.
KEYCLOAK_VERSION="$(sed -n 's:.*<keycloak.version>\(.*\)</keycloak.version>.*:\1:p' "$KEYCLOAK_POM")"
KEYCLOAK_DIST_DIR="$SALESFLOW_STATE_DIR/keycloak-$KEYCLOAK_VERSION"
: "${SALESFLOW_KEYCLOAK_PORT:=8180}"
: "${SALESFLOW_KEYCLOAK_JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
KEYCLOAK_HOME_DIR="$SALESFLOW_STATE_DIR/keycloak-$SALESFLOW_KEYCLOAK_PORT"
KEYCLOAK_PID_FILE="$KEYCLOAK_HOME_DIR/keycloak.pid"
KEYCLOAK_OUT_FILE="$KEYCLOAK_HOME_DIR/keycloak.out"
KEYCLOAK_START_TIMEOUT="${SALESFLOW_KEYCLOAK_START_TIMEOUT:-900}"
KEYCLOAK_URL="http://${SALESFLOW_HOST}:${SALESFLOW_KEYCLOAK_PORT}"
KEYCLOAK_ISSUER="$KEYCLOAK_URL/realms/salesflow"

# SALESFLOW_KEYCLOAK=off: this stack has no Keycloak (its services trust another issuer); up/down/status/env skip it.
keycloak_wanted() {
  [[ "${SALESFLOW_KEYCLOAK:-on}" != off ]]
}

keycloak_java() {
  [[ -x "$SALESFLOW_KEYCLOAK_JAVA_HOME/bin/java" ]] ||
    die "keycloak needs Java 21+: no $SALESFLOW_KEYCLOAK_JAVA_HOME/bin/java (set SALESFLOW_KEYCLOAK_JAVA_HOME)"
}

# Unpacks the distribution from Maven Central into $KEYCLOAK_DIST_DIR, once.
keycloak_ensure_dist() {
  [[ -x "$KEYCLOAK_DIST_DIR/bin/kc.sh" ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven) and $KEYCLOAK_DIST_DIR is empty"
  log "keycloak: resolving keycloak-quarkus-dist $KEYCLOAK_VERSION into $SALESFLOW_STATE_DIR (Maven Central, first run only)"
  mvn -q -B -Dstyle.color=never -f "$KEYCLOAK_POM" -Dkeycloak.unpack.dir="$SALESFLOW_STATE_DIR" dependency:unpack >&2 ||
    die "keycloak: maven could not resolve the distribution"
  [[ -x "$KEYCLOAK_DIST_DIR/bin/kc.sh" ]] || die "keycloak: maven ran but $KEYCLOAK_DIST_DIR/bin/kc.sh is missing"
}

# The pid of the Keycloak this script started on this port, if it still runs (checked against its command line).
keycloak_pid() {
  local pid cmdline
  [[ -f "$KEYCLOAK_PID_FILE" ]] || return 1
  pid="$(<"$KEYCLOAK_PID_FILE")"
  pid_alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$KEYCLOAK_DIST_DIR/bin/kc.sh"* && "$cmdline" == *"--http-port=$SALESFLOW_KEYCLOAK_PORT "* ]] ||
    return 1
  printf '%s\n' "$pid"
}

keycloak_ready() {
  curl -fsS -o /dev/null --max-time 3 "$KEYCLOAK_ISSUER/.well-known/openid-configuration" 2>/dev/null
}

keycloak_wait_ready() {
  local pid="$1" started="$2" deadline=$(($(now) + KEYCLOAK_START_TIMEOUT))
  until keycloak_ready; do
    if ! pid_alive "$pid"; then
      tail -n 40 "$KEYCLOAK_OUT_FILE" >&2 || true
      rm -f "$KEYCLOAK_PID_FILE"
      die "keycloak: exited during startup (log: $KEYCLOAK_OUT_FILE)"
    fi
    if (($(now) >= deadline)); then
      tail -n 40 "$KEYCLOAK_OUT_FILE" >&2 || true
      kill -TERM "$pid" 2>/dev/null || true
      rm -f "$KEYCLOAK_PID_FILE"
      die "keycloak: realm not served after ${KEYCLOAK_START_TIMEOUT}s; stopped"
    fi
    sleep 1
  done
  log "keycloak: ready in $(($(now) - started))s (pid $pid), issuer $KEYCLOAK_ISSUER"
}

keycloak_start() {
  local pid started
  started="$(now)"
  keycloak_java
  keycloak_ensure_dist
  mkdir -p "$KEYCLOAK_HOME_DIR" "$KEYCLOAK_DIST_DIR/data/import"
  # --import-realm reads $kc.home/data/import; the in-memory database makes it import on every start.
  cp "$KEYCLOAK_REALM_FILE" "$KEYCLOAK_DIST_DIR/data/import/"
  log "keycloak: starting $KEYCLOAK_VERSION on $KEYCLOAK_URL (log: $KEYCLOAK_OUT_FILE)"
  printf '\n===== %s stack.sh up: starting keycloak =====\n' "$(date -Is)" >>"$KEYCLOAK_OUT_FILE"
  # The admin console user exists only for people poking at the realm locally (loopback only).
  (cd "$KEYCLOAK_HOME_DIR" && JAVA_HOME="$SALESFLOW_KEYCLOAK_JAVA_HOME" \
    KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin \
    JAVA_OPTS_KC_HEAP="-Xms128m -Xmx512m" \
    exec setsid nohup "$KEYCLOAK_DIST_DIR/bin/kc.sh" start-dev \
    --db=dev-mem --http-host="$SALESFLOW_HOST" --http-port="$SALESFLOW_KEYCLOAK_PORT" \
    --http-management-port="$((SALESFLOW_KEYCLOAK_PORT + 1))" \
    --hostname="$KEYCLOAK_URL" --import-realm --cache=local --log-level=INFO \
    >>"$KEYCLOAK_OUT_FILE" 2>&1 </dev/null 9>&-) &
  pid=$!
  printf '%s\n' "$pid" >"$KEYCLOAK_PID_FILE"
  keycloak_wait_ready "$pid" "$started"
}

keycloak_up() {
  local pid
  if pid="$(keycloak_pid)"; then
    if keycloak_ready; then
      log "keycloak: already running (pid $pid) on $KEYCLOAK_URL, reusing it"
    else
      log "keycloak: pid $pid is starting, waiting for $KEYCLOAK_ISSUER"
      keycloak_wait_ready "$pid" "$(now)"
    fi
  elif keycloak_ready; then
    log "keycloak: something already serves $KEYCLOAK_ISSUER; reusing it"
  else
    keycloak_start
  fi
}

keycloak_down() {
  local pid
  pid="$(keycloak_pid)" || { log "keycloak: not running"; return 0; }
  log "keycloak: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do pid_alive "$pid" || break; sleep 1; done
  pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  rm -f "$KEYCLOAK_PID_FILE"
}

keycloak_status() {
  if keycloak_ready; then
    echo "keycloak: up       $KEYCLOAK_URL (issuer $KEYCLOAK_ISSUER)"
  else
    echo "keycloak: down"
    return 1
  fi
}

keycloak_env() {
  echo "export SALESFLOW_AUTH_ISSUER=$KEYCLOAK_ISSUER"
  echo "export SALESFLOW_KEYCLOAK_URL=$KEYCLOAK_URL"
}
