# shellcheck shell=bash
# Native Apache Kafka: single node, KRaft combined mode (broker + controller in one JVM), loopback only.
# Sourced by stack.sh after common.sh; defines kafka_up, kafka_down, kafka_status, kafka_logs.
#
# Jars come from Maven Central via deploy/kafka/pom.xml (nothing is built); config, data, pid and logs live in
# $SALESFLOW_STATE_DIR/kafka (outside the repository). Storage is formatted once; later starts reuse it.
#
# Security (DESIGN §8): clients authenticate with SASL/SCRAM-SHA-512 and the StandardAuthorizer checks ACLs
# (allow.everyone.if.no.acl.found=false). The SCRAM credentials are bootstrapped when the storage is formatted
# (StorageTool --add-scram); the ACLs are written with AclCommand once the broker runs. Both are applied again
# only when what they are made of changes (digests in $KAFKA_HOME_DIR/*.applied).
# The admin alone may also sign in with SASL/PLAIN against a static entry in broker.properties: the controller
# listener needs it (the controller cannot look SCRAM credentials up before it has read the metadata log), the
# broker uses it for itself, and kafka.sh uses it to add SCRAM credentials to storage formatted without them.
# A broker started by an older stack.sh (PLAINTEXT, server.properties, kafka.pid) is switched in place: stopped,
# restarted with this configuration, then given its SCRAM credentials and ACLs; topics and offsets stay.

KAFKA_DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../kafka" && pwd)"
KAFKA_POM="$KAFKA_DEPLOY_DIR/pom.xml"
# The version is pinned in the pom and nowhere else.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
KAFKA_LIB_DIR="${SALESFLOW_KAFKA_LIB_DIR:-$SALESFLOW_STATE_DIR/kafka-$KAFKA_VERSION/libs}"
KAFKA_HOME_DIR="$SALESFLOW_STATE_DIR/kafka"
# broker.properties / broker.pid, not the server.properties / kafka.pid of the PLAINTEXT stack before SASL: an
# older stack.sh still running somewhere rewrites server.properties, which must not touch the running broker.
KAFKA_CONFIG="$KAFKA_HOME_DIR/broker.properties"
KAFKA_LEGACY_CONFIG="$KAFKA_HOME_DIR/server.properties"
KAFKA_LEGACY_PID_FILE="$KAFKA_HOME_DIR/kafka.pid"
KAFKA_ADMIN_CONFIG="$KAFKA_HOME_DIR/admin.properties"
KAFKA_PLAIN_ADMIN_CONFIG="$KAFKA_HOME_DIR/admin-plain.properties"
KAFKA_SCRAM_MARKER="$KAFKA_HOME_DIR/scram.applied"
# Where the admin tools reach the broker: here, or the compose network's kafka:9092 (stack.sh kafka-security).
KAFKA_ADMIN_BOOTSTRAP="${SALESFLOW_KAFKA_ADMIN_BOOTSTRAP:-$SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT}"
KAFKA_ACL_MARKER="$KAFKA_HOME_DIR/acls.applied"
KAFKA_ACL_TABLE="$KAFKA_DEPLOY_DIR/acls.tsv"
KAFKA_DATA_DIR="$KAFKA_HOME_DIR/data"
KAFKA_LOG_DIR="$KAFKA_HOME_DIR/logs"
KAFKA_PID_FILE="$KAFKA_HOME_DIR/broker.pid"
KAFKA_OUT_FILE="$KAFKA_HOME_DIR/kafka.out"
KAFKA_CLUSTER_ID_FILE="$KAFKA_HOME_DIR/cluster.id"
# Generous: a broker that holds thousands of partitions (every test run makes its own topics) needs minutes to
# load them on a busy 2-core box before it opens the client port.
KAFKA_START_TIMEOUT="${SALESFLOW_KAFKA_START_TIMEOUT:-600}"
KAFKA_STOP_TIMEOUT="${SALESFLOW_KAFKA_STOP_TIMEOUT:-60}"
# -Xms256m -Xmx1g fits a 2-core dev box; override with SALESFLOW_KAFKA_HEAP_OPTS="-Xms.. -Xmx..".
read -r -a KAFKA_HEAP_OPTS <<<"${SALESFLOW_KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_JVM_OPTS=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true)

# ---------------------------------------------------------------------------------------------------- helpers

kafka_require_java() {
  command -v java >/dev/null 2>&1 || die "java not found (OpenJDK 17 is needed: apt-get install openjdk-17-jre-headless)"
}

# Runs a Kafka tool class (quiet logging) on the resolved classpath.
kafka_tool() {
  java -cp "$KAFKA_LIB_DIR/*" -Dlog4j2.configurationFile="$KAFKA_DEPLOY_DIR/tools-log4j2.properties" "$@"
}

# Resolves the broker jars (plus the Log4j2 binding) from Maven Central into $KAFKA_LIB_DIR, once.
kafka_ensure_libs() {
  if compgen -G "$KAFKA_LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null &&
    compgen -G "$KAFKA_LIB_DIR/kafka-tools-$KAFKA_VERSION.jar" >/dev/null &&
    compgen -G "$KAFKA_LIB_DIR/log4j-slf4j-impl-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven) and $KAFKA_LIB_DIR has no Kafka jars"
  log "kafka: resolving Kafka $KAFKA_VERSION jars into $KAFKA_LIB_DIR (Maven Central, first run only)"
  mkdir -p "$KAFKA_LIB_DIR"
  mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" -Dkafka.lib.dir="$KAFKA_LIB_DIR" dependency:copy-dependencies >&2 ||
    die "kafka: maven could not resolve the Kafka jars"
  compgen -G "$KAFKA_LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null ||
    die "kafka: maven ran but $KAFKA_LIB_DIR has no kafka_2.13-$KAFKA_VERSION.jar"
}

# The users whose SCRAM credentials the broker holds: "name password" lines, the admin first.
kafka_scram_users() {
  local svc
  printf '%s %s\n' "$SALESFLOW_KAFKA_ADMIN_USER" "$SALESFLOW_KAFKA_ADMIN_PASSWORD"
  for svc in "${SALESFLOW_SERVICES[@]}" "${SALESFLOW_INBOUND_WRITERS[@]}"; do
    printf '%s %s\n' "$svc" "$(kafka_service_password "$svc")"
  done
}

# Writes a file only readable by its owner (it holds passwords); prints "changed" when its content changed.
kafka_write_secret_file() {
  local target="$1" tmp
  tmp="$(mktemp "$target.XXXXXX")"
  chmod 600 "$tmp"
  cat >"$tmp"
  if [[ -f "$target" ]] && cmp -s "$tmp" "$target"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$target"
    echo changed
  fi
}

# Client configs for the admin tools: SCRAM, and PLAIN (for adding the SCRAM credentials themselves).
kafka_write_admin_configs() {
  local user="$SALESFLOW_KAFKA_ADMIN_USER" password="$SALESFLOW_KAFKA_ADMIN_PASSWORD"
  # Long timeouts: on a saturated box the defaults (30 s a request, 60 s a call) time out a broker that is busy
  # loading thousands of partitions.
  kafka_write_secret_file "$KAFKA_ADMIN_CONFIG" >/dev/null <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=${SALESFLOW_KAFKA_SASL_MECHANISM}
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${password}";
request.timeout.ms=120000
default.api.timeout.ms=300000
EOF
  kafka_write_secret_file "$KAFKA_PLAIN_ADMIN_CONFIG" >/dev/null <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${user}" password="${password}";
request.timeout.ms=120000
default.api.timeout.ms=300000
EOF
}

# Writes broker.properties (regenerated on every `up`; only read when the broker starts).
# Prints "changed" when the content differs from what was there.
kafka_write_config() {
  local user="$SALESFLOW_KAFKA_ADMIN_USER" password="$SALESFLOW_KAFKA_ADMIN_PASSWORD"
  mkdir -p "$KAFKA_HOME_DIR" "$KAFKA_DATA_DIR" "$KAFKA_LOG_DIR"
  kafka_write_admin_configs
  kafka_write_secret_file "$KAFKA_CONFIG" <<EOF
# Generated by deploy/native/kafka.sh on 'stack.sh up'. Do not edit: changes are overwritten.
# Single node, KRaft combined mode, loopback only. Readable by its owner only: it holds the admin's password.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${SALESFLOW_HOST}:${SALESFLOW_KAFKA_CONTROLLER_PORT}
listeners=SASL_PLAINTEXT://${SALESFLOW_HOST}:${SALESFLOW_KAFKA_PORT},CONTROLLER://${SALESFLOW_HOST}:${SALESFLOW_KAFKA_CONTROLLER_PORT}
advertised.listeners=SASL_PLAINTEXT://${SALESFLOW_HOST}:${SALESFLOW_KAFKA_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT

# Clients authenticate with SCRAM (credentials in the metadata log). PLAIN knows the admin alone, statically:
# for the broker itself, the controller listener (which cannot read SCRAM credentials before the metadata log)
# and kafka.sh adding SCRAM credentials to storage formatted without them.
listener.name.sasl_plaintext.sasl.enabled.mechanisms=${SALESFLOW_KAFKA_SASL_MECHANISM},PLAIN
listener.name.sasl_plaintext.${SALESFLOW_KAFKA_SASL_MECHANISM,,}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${user}" password="${password}" user_${user}="${password}";
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${user}" password="${password}" user_${user}="${password}";
sasl.mechanism.controller.protocol=PLAIN

# ACLs (deploy/kafka/acls.tsv, written by kafka.sh): nothing is allowed that no ACL allows.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:${user}

log.dirs=${KAFKA_DATA_DIR}
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true

# Topics are the history: read models are rebuilt from them, so nothing expires.
log.retention.ms=-1
log.retention.bytes=-1
# Small heap: keep the log cleaner's dedupe buffer small (default 128 MB).
log.cleaner.dedupe.buffer.size=16777216

num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

# Formats the storage directory once. The cluster id is generated once and kept in $KAFKA_CLUSTER_ID_FILE;
# an existing meta.properties (formatted earlier) is never touched.
kafka_ensure_storage() {
  local cluster_id
  if [[ -f "$KAFKA_DATA_DIR/meta.properties" ]]; then
    cluster_id="$(sed -n 's/^cluster\.id=//p' "$KAFKA_DATA_DIR/meta.properties")"
    [[ -f "$KAFKA_CLUSTER_ID_FILE" ]] || printf '%s\n' "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
    return 0
  fi
  if [[ -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
    cluster_id="$(<"$KAFKA_CLUSTER_ID_FILE")"
  else
    cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid)" || die "kafka: StorageTool random-uuid failed"
    printf '%s\n' "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  log "kafka: formatting storage $KAFKA_DATA_DIR (cluster id $cluster_id, SCRAM users bootstrapped)"
  local scram=() name password
  while read -r name password; do
    scram+=(--add-scram "${SALESFLOW_KAFKA_SASL_MECHANISM}=[name=${name},password=${password}]")
  done < <(kafka_scram_users)
  # Static quorum (controller.quorum.voters), so no --standalone / --initial-controllers is needed.
  kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CONFIG" "${scram[@]}" >&2 ||
    die "kafka: storage format failed"
  kafka_scram_digest >"$KAFKA_SCRAM_MARKER"
}

# What the SCRAM credentials and ACLs were applied to: the formatted storage (a new format loses both).
kafka_storage_id() {
  if [[ -f "$KAFKA_DATA_DIR/meta.properties" ]]; then sed -n 's/^directory\.id=//p' "$KAFKA_DATA_DIR/meta.properties"; fi
}

kafka_scram_digest() {
  { kafka_storage_id; kafka_scram_users; } | md5sum | cut -d' ' -f1
}

# Storage formatted without these SCRAM users (by the PLAINTEXT stack, or before a user was added): upsert them,
# signed in as the admin with PLAIN (the admin's SCRAM credentials may be among the missing).
kafka_ensure_scram_users() {
  local digest name password
  digest="$(kafka_scram_digest)"
  [[ -f "$KAFKA_SCRAM_MARKER" && "$(<"$KAFKA_SCRAM_MARKER")" == "$digest" ]] && return 0
  log "kafka: adding the SCRAM credentials to the existing storage"
  while read -r name password; do
    printf 'kafka_tool kafka.admin.ConfigCommand --bootstrap-server %q --command-config %q --alter --entity-type users --entity-name %q --add-config %q\n' \
      "$KAFKA_ADMIN_BOOTSTRAP" "$KAFKA_PLAIN_ADMIN_CONFIG" "$name" "${SALESFLOW_KAFKA_SASL_MECHANISM}=[password=${password}]"
  done < <(kafka_scram_users) | kafka_run_parallel "SCRAM credentials"
  printf '%s\n' "$digest" >"$KAFKA_SCRAM_MARKER"
}

# Prints the pid of the broker this script started, if it still runs (checked against its command line).
kafka_pid() {
  kafka_pid_from "$KAFKA_PID_FILE" "$KAFKA_CONFIG"
}

# The PLAINTEXT broker an older stack.sh started (server.properties, kafka.pid), if it still runs.
kafka_legacy_pid() {
  kafka_pid_from "$KAFKA_LEGACY_PID_FILE" "$KAFKA_LEGACY_CONFIG"
}

kafka_pid_from() {
  local pid_file="$1" config="$2" pid cmdline
  [[ -f "$pid_file" ]] || return 1
  pid="$(<"$pid_file")"
  pid_alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"kafka.Kafka $config"* ]] || return 1
  printf '%s\n' "$pid"
}

# Stops a broker: TERM, then KILL after KAFKA_STOP_TIMEOUT.
kafka_stop_pid() {
  local pid="$1" deadline
  log "kafka: stopping pid $pid (TERM, KILL after ${KAFKA_STOP_TIMEOUT}s)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(now) + KAFKA_STOP_TIMEOUT))
  while pid_alive "$pid"; do
    if (($(now) >= deadline)); then
      log "kafka: pid $pid still alive after ${KAFKA_STOP_TIMEOUT}s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
}

# ------------------------------------------------------------------------------------------------------ ACLs

# Runs the tool commands read from stdin (one per line) side by side: each is a JVM start, several seconds on
# a busy 2-core box, and they do not depend on each other. On a saturated box a tool's request can time out, so
# each that failed runs again, alone, up to twice (they are idempotent). Dies naming the one that kept failing.
kafka_run_parallel() {
  local what="$1" line n attempt out
  local -a pids=() lines=() failed=() still=()
  out="$(mktemp -d "$KAFKA_HOME_DIR/tools.XXXXXX")"
  n=0
  while IFS= read -r line; do
    (eval "$line") >"$out/$n.log" 2>&1 &
    pids+=("$!") lines+=("$line")
    n=$((n + 1))
  done
  for n in "${!pids[@]}"; do
    wait "${pids[$n]}" || failed+=("$n")
  done
  for attempt in 2 3; do
    ((${#failed[@]} > 0)) || break
    log "kafka: ${#failed[@]} of the $what commands failed; running them again one by one (attempt $attempt of 3)"
    still=()
    for n in "${failed[@]}"; do
      (eval "${lines[$n]}") >"$out/$n.log" 2>&1 || still+=("$n")
    done
    failed=("${still[@]}")
  done
  if ((${#failed[@]} > 0)); then
    n="${failed[0]}"
    tail -n 20 "$out/$n.log" >&2
    rm -rf "$out"
    die "kafka: writing the $what failed: ${lines[$n]//password=*]/password=...]}"
  fi
  rm -rf "$out"
}

# One AclCommand argument list per principal, operations and resource type, from the ACL table
# deploy/kafka/acls.tsv (the one source: the Kubernetes KafkaUsers are checked against it by
# tests/unit/deploy/test_kafka_acls.py), for the default topic prefix. Fails on a malformed row.
kafka_acl_specs() {
  awk -v prefix="$SALESFLOW_TOPIC_PREFIX_DEFAULT" '
    /^[[:space:]]*(#|$)/ { next }
    NF != 4 || ($3 != "topic" && $3 != "group") {
      printf "%s:%d: expected \"principal operations topic|group name\", got: %s\n", FILENAME, FNR, $0 > "/dev/stderr"
      bad = 1; exit 1
    }
    {
      key = $1 SUBSEP $2 SUBSEP $3
      if (!(key in spec)) {
        order[++n] = key
        spec[key] = "--allow-principal User:" $1
        count = split($2, operations, ",")
        for (i = 1; i <= count; i++) spec[key] = spec[key] " --operation " operations[i]
      }
      spec[key] = spec[key] " --" $3 " " ($3 == "topic" ? prefix "." $4 : $4)
    }
    END { if (bad) exit 1; for (i = 1; i <= n; i++) print spec[order[i]] }' "$KAFKA_ACL_TABLE"
}

kafka_acl_digest() {
  { kafka_storage_id; kafka_acl_specs; } | md5sum | cut -d' ' -f1
}

# Adds the ACLs (adding one that exists is a no-op) when the spec or the storage changed since the last time.
kafka_ensure_acls() {
  local digest spec
  kafka_acl_specs >/dev/null || die "kafka: the ACL table $KAFKA_ACL_TABLE is malformed"
  digest="$(kafka_acl_digest)"
  [[ -f "$KAFKA_ACL_MARKER" && "$(<"$KAFKA_ACL_MARKER")" == "$digest" ]] && return 0
  log "kafka: writing the ACLs of deploy/kafka/acls.tsv (one AclCommand run per principal, operations and resource type)"
  while read -r spec; do
    printf 'kafka_tool org.apache.kafka.tools.AclCommand --bootstrap-server %q --command-config %q --add --force %s\n' \
      "$KAFKA_ADMIN_BOOTSTRAP" "$KAFKA_ADMIN_CONFIG" "$spec"
  done < <(kafka_acl_specs) | kafka_run_parallel "ACLs"
  printf '%s\n' "$digest" >"$KAFKA_ACL_MARKER"
}

kafka_print_log_tail() {
  log "kafka: last errors in $KAFKA_LOG_DIR/server.log:"
  grep -E '^\[[^]]*\] (ERROR|FATAL) ' "$KAFKA_LOG_DIR/server.log" 2>/dev/null | tail -n 5 >&2 || true
  log "kafka: last lines of $KAFKA_LOG_DIR/server.log:"
  tail -n 40 "$KAFKA_LOG_DIR/server.log" >&2 2>/dev/null || true
  log "kafka: last lines of $KAFKA_OUT_FILE:"
  tail -n 20 "$KAFKA_OUT_FILE" >&2 2>/dev/null || true
}

# Waits until the client port accepts connections (the broker opens it only once it is ready).
kafka_wait_ready() {
  local pid="$1" deadline=$(($(now) + KAFKA_START_TIMEOUT))
  until port_open "$SALESFLOW_KAFKA_PORT"; do
    if ! pid_alive "$pid"; then
      kafka_print_log_tail
      rm -f "$KAFKA_PID_FILE"
      die "kafka: broker (pid $pid) exited during startup"
    fi
    if (($(now) >= deadline)); then
      kafka_print_log_tail
      kafka_stop_pid "$pid"  # and wait: a broker still shutting down holds the controller port
      rm -f "$KAFKA_PID_FILE"
      die "kafka: port $SALESFLOW_KAFKA_PORT not open after ${KAFKA_START_TIMEOUT}s; broker stopped"
    fi
    sleep 0.5
  done
}

kafka_start() {
  local pid
  kafka_ensure_storage
  mkdir -p "$KAFKA_LOG_DIR"
  log "kafka: starting broker on $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT (log: $KAFKA_LOG_DIR/server.log)"
  printf '\n===== %s stack.sh up: starting kafka =====\n' "$(date -Is)" >>"$KAFKA_OUT_FILE"
  # setsid: own session, so the broker survives the calling shell/terminal; stdin from /dev/null.
  (cd "$KAFKA_HOME_DIR" && exec setsid nohup java "${KAFKA_HEAP_OPTS[@]}" "${KAFKA_JVM_OPTS[@]}" \
    -Dlog4j2.configurationFile="$KAFKA_DEPLOY_DIR/log4j2.properties" \
    -Dkafka.logs.dir="$KAFKA_LOG_DIR" \
    -cp "$KAFKA_LIB_DIR/*" kafka.Kafka "$KAFKA_CONFIG" \
    >>"$KAFKA_OUT_FILE" 2>&1 </dev/null 9>&-) &
  pid=$!
  printf '%s\n' "$pid" >"$KAFKA_PID_FILE"
  kafka_wait_ready "$pid"
  # The subshell exec'd into setsid, which exec'd into nohup, then java: same pid. Verify it.
  kafka_pid >/dev/null || log "kafka: warning: pid $pid does not look like the broker (check $KAFKA_PID_FILE)"
  if ! grep -q 'Kafka Server started' "$KAFKA_LOG_DIR/server.log" 2>/dev/null; then
    log "kafka: warning: broker answers but $KAFKA_LOG_DIR/server.log has no 'Kafka Server started' (Log4j2 binding?)"
  fi
  log "kafka: ready (pid $pid)"
}

# Deletes the topics test runs left behind (tests name every topic t<8 hex run id>…; a run deletes its own when it
# ends, tests/conftest.py, but a killed run cannot). Why: the broker holds a file handle per partition segment, and
# ~20k leftover partitions reached this box's open-file limit (20000, not raisable here): the broker stopped with
# "Too many open files" and could not start again. Only run on a broker this script has just started, when no
# test can be using it. The topic pattern is a full match, so "salesflow.*" and internal topics never match.
KAFKA_TEST_TOPIC_PATTERN='t[0-9a-f]{8}.*'
kafka_prune_test_topics() {
  local count
  count="$(find "$KAFKA_DATA_DIR" -maxdepth 1 -regextype posix-extended -regex '.*/t[0-9a-f]{8}[^/]*-[0-9]+' | wc -l)"
  ((count > 0)) || return 0
  log "kafka: deleting the topics of earlier test runs ($count partitions)"
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_ADMIN_BOOTSTRAP" \
    --command-config "$KAFKA_ADMIN_CONFIG" --delete --if-exists --topic "$KAFKA_TEST_TOPIC_PATTERN" >&2 ||
    log "kafka: warning: could not delete the test topics (the broker keeps them; rerun 'stack.sh down && stack.sh up')"
}

# ----------------------------------------------------------------------------------------------- subcommands

kafka_up() {
  local pid started changed legacy fresh=""
  started="$(now)"
  changed="$(kafka_write_config)"
  if legacy="$(kafka_legacy_pid)"; then
    kafka_ensure_libs  # before stopping it: the new broker needs kafka-tools, a Maven resolve away
    log "kafka: pid $legacy is the PLAINTEXT broker of an older stack.sh; restarting it with SASL/SCRAM and ACLs"
    kafka_stop_pid "$legacy"
    rm -f "$KAFKA_LEGACY_PID_FILE"
  fi
  if pid="$(kafka_pid)"; then
    if [[ -n "$changed" ]]; then
      log "kafka: broker.properties changed; run 'stack.sh down && stack.sh up' to apply it"
    fi
    if port_open "$SALESFLOW_KAFKA_PORT"; then
      log "kafka: already running (pid $pid) on $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT, reusing it"
    else
      log "kafka: pid $pid is starting, waiting for $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT"
      kafka_wait_ready "$pid"
    fi
  else
    if port_open "$SALESFLOW_KAFKA_PORT"; then
      log "kafka: $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT is served by a process this script did not start; reusing it"
      return 0
    fi
    if port_open "$SALESFLOW_KAFKA_CONTROLLER_PORT"; then
      die "kafka: controller port $SALESFLOW_HOST:$SALESFLOW_KAFKA_CONTROLLER_PORT is taken by another process; set SALESFLOW_KAFKA_CONTROLLER_PORT"
    fi
    kafka_require_java
    kafka_ensure_libs
    kafka_start
    fresh=1
  fi
  kafka_ensure_libs  # a broker started before kafka-tools was in the pom
  kafka_ensure_scram_users
  kafka_ensure_acls
  [[ -z "$fresh" ]] || kafka_prune_test_topics
  log "kafka: up in $(($(now) - started))s"
}

kafka_down() {
  local pid
  if pid="$(kafka_legacy_pid)"; then
    kafka_stop_pid "$pid"
    rm -f "$KAFKA_LEGACY_PID_FILE"
  fi
  if ! pid="$(kafka_pid)"; then
    rm -f "$KAFKA_PID_FILE"
    if port_open "$SALESFLOW_KAFKA_PORT"; then
      log "kafka: port $SALESFLOW_KAFKA_PORT is served by a process this script did not start; leaving it alone"
    else
      log "kafka: not running"
    fi
    return 0
  fi
  kafka_stop_pid "$pid"
  rm -f "$KAFKA_PID_FILE"
  log "kafka: stopped"
}

# Exit 0 when the client port answers.
kafka_status() {
  local pid
  if pid="$(kafka_legacy_pid)"; then
    echo "kafka:    up       pid $pid, $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT (PLAINTEXT, started by an older stack.sh: 'stack.sh up' switches it to SASL)"
    return 0
  fi
  if pid="$(kafka_pid)"; then
    if port_open "$SALESFLOW_KAFKA_PORT"; then
      echo "kafka:    up       pid $pid, $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT (native, SASL/SCRAM, $KAFKA_HOME_DIR)"
      return 0
    fi
    echo "kafka:    starting pid $pid, $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT not open yet"
    return 1
  fi
  if port_open "$SALESFLOW_KAFKA_PORT"; then
    echo "kafka:    up       $SALESFLOW_HOST:$SALESFLOW_KAFKA_PORT (not started by stack.sh)"
    return 0
  fi
  echo "kafka:    down"
  return 1
}

kafka_logs() {
  local file="$KAFKA_LOG_DIR/server.log"
  [[ -f "$file" ]] || die "kafka: no log yet ($file)"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n 100 -F "$file"
  fi
  tail -n "${1:-100}" "$file"
}

# The SCRAM users and ACLs alone, for a broker this script did not start (the compose path's kafka-security
# container runs it against kafka:9092). Needs the Kafka jars in SALESFLOW_KAFKA_LIB_DIR.
kafka_security() {
  mkdir -p "$KAFKA_HOME_DIR"
  kafka_write_admin_configs
  kafka_ensure_scram_users
  kafka_ensure_acls
}
