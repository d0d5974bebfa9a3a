#!/bin/bash
# clem-image first boot: expose the docker daemon on TCP (TLS unless configured otherwise)
# and join the swarm. Every value comes from node.env, written by clem-image and quoted;
# this script itself is the same on every node. Safe to run again: each step checks
# whether it is already done, and a marker ends it for good once everything succeeded.
set -euo pipefail

# CLEM_ROOT lets the tests run this against a temporary root; it is empty on a node.
ROOT="${CLEM_ROOT:-}"
CONF_DIR="${CLEM_CONF_DIR:-/etc/clem-image}"
# Snappy keeps /var/lib read-only: the unit passes a state directory on a writable path.
STATE_DIR="$ROOT${CLEM_STATE_DIR:-/var/lib/clem-image}"
DONE="$STATE_DIR/firstboot.done"
SLEEP="${CLEM_SLEEP:-sleep}"
MAX_TRIES="${CLEM_MAX_TRIES:-8}"
# Snappy puts a snap's commands (docker) in /apps/bin, which only login shells have on PATH,
# not a systemd unit.
PATH="$PATH:$ROOT/apps/bin"

log() { echo "clem-firstboot: $*"; }

# Every docker call is bounded: a call made while dockerd restarts can wait forever on the
# socket systemd keeps open, and one hung call would stall this run and every later one.
# (`timeout` runs the docker binary, not this function.)
# Pulls (`run`, `pull`) get longer: a Pi on a slow link may need minutes for an image.
docker() {
    local limit="${CLEM_DOCKER_TIMEOUT:-90}"
    case "${1:-}" in run | pull) limit="${CLEM_DOCKER_PULL_TIMEOUT:-900}" ;; esac
    timeout --kill-after=10 "$limit" docker "$@"
}

if [ -e "$DONE" ]; then
    log "already done ($DONE); nothing to do"
    exit 0
fi

# shellcheck source=/dev/null
. "$ROOT$CONF_DIR/node.env"

TLS_DIR="$CONF_DIR/tls"

# retry CMD...: run CMD until it succeeds, doubling the wait up to a minute.
retry() {
    local try=1 delay=2
    until "$@"; do
        if [ "$try" -ge "$MAX_TRIES" ]; then
            log "giving up on '$*' after $try tries"
            return 1
        fi
        log "'$*' failed (try $try); retrying in ${delay}s"
        "$SLEEP" "$delay"
        try=$((try + 1))
        delay=$((delay * 2))
        if [ "$delay" -gt 60 ]; then delay=60; fi
    done
}

docker_hosts() {
    case "$DOCKER_MODE" in
        tls) echo "tcp://0.0.0.0:$DOCKER_PORT" ;;
        insecure-tcp) echo "tcp://0.0.0.0:$DOCKER_PORT" ;;
        *) echo "" ;;
    esac
}

# The options line for Snappy's docker.conf (DOCKER_OPTIONS=...).
snappy_options() {
    local opts
    opts="-H $(docker_hosts) -H unix:///var/run/docker.sock"
    if [ "$DOCKER_MODE" = tls ]; then
        opts="$opts --tlsverify --tlscacert=$TLS_DIR/ca.pem --tlscert=$TLS_DIR/server-cert.pem --tlskey=$TLS_DIR/server-key.pem"
    fi
    echo "$opts"
}

snappy_install_docker() {
    local snap
    for snap in "$ROOT$CONF_DIR"/docker*.snap; do
        if [ -e "$snap" ]; then
            log "installing docker from $snap (offline)"
            snappy install --allow-unauthenticated "$snap"
            return
        fi
    done
    log "installing docker from the store"
    snappy install docker
}

configure_snappy() {
    local confs=() conf dir
    for dir in "$ROOT"/var/lib/apps/docker/*/etc "$ROOT"/apps/docker/*/etc; do
        if [ -e "$dir/docker.conf" ]; then confs+=("$dir/docker.conf"); fi
    done
    if [ "${#confs[@]}" -eq 0 ]; then
        retry snappy_install_docker
        for dir in "$ROOT"/var/lib/apps/docker/*/etc "$ROOT"/apps/docker/*/etc; do
            if [ -e "$dir/docker.conf" ]; then confs+=("$dir/docker.conf"); fi
        done
    fi
    if [ "${#confs[@]}" -eq 0 ]; then
        log "docker is not installed and could not be installed"
        return 1
    fi
    local line
    line="DOCKER_OPTIONS=\"$(snappy_options)\""
    for conf in "${confs[@]}"; do
        if grep -qxF "$line" "$conf"; then
            log "$conf already configured"
        else
            log "setting DOCKER_OPTIONS in $conf"
            # Replace the first DOCKER_OPTIONS= line (drop any others), or append one. The
            # line is passed through the environment: no sed/awk escaping of its characters.
            CLEM_LINE="$line" awk '
                /^DOCKER_OPTIONS=/ { if (!done) print ENVIRON["CLEM_LINE"]; done = 1; next }
                { print }
                END { if (!done) print ENVIRON["CLEM_LINE"] }' "$conf" >"$conf.clem-new"
            # cat, not mv: keeps the file's owner and mode.
            cat "$conf.clem-new" >"$conf"
            rm -f "$conf.clem-new"
        fi
    done
    # The snap's unit name carries its version (docker_docker-daemon_1.6.1.002.service).
    local unit path
    unit="$(systemctl list-unit-files --no-legend 'docker_docker-daemon_*.service' | awk 'NR==1 {print $1}')" || unit=""
    if [ -z "$unit" ]; then
        for path in "$ROOT"/etc/systemd/system/docker_docker-daemon_*.service; do
            if [ -e "$path" ]; then unit="${path##*/}"; break; fi
        done
    fi
    if [ -z "$unit" ]; then
        log "no docker_docker-daemon_*.service unit found"
        return 1
    fi
    log "restarting $unit"
    systemctl restart "$unit"
}

configure_systemd() {
    local json="$ROOT/etc/docker/daemon.json"
    local dropin="$ROOT/etc/systemd/system/docker.service.d/clem-image.conf"
    mkdir -p "$(dirname "$json")" "$(dirname "$dropin")"
    local want
    if [ "$DOCKER_MODE" = tls ]; then
        want="{
  \"hosts\": [\"unix:///var/run/docker.sock\", \"$(docker_hosts)\"],
  \"tlsverify\": true,
  \"tlscacert\": \"$TLS_DIR/ca.pem\",
  \"tlscert\": \"$TLS_DIR/server-cert.pem\",
  \"tlskey\": \"$TLS_DIR/server-key.pem\"
}"
    else
        want="{
  \"hosts\": [\"unix:///var/run/docker.sock\", \"$(docker_hosts)\"]
}"
    fi
    if [ -e "$json" ] && [ "$(cat "$json")" = "$want" ]; then
        log "$json already configured"
    else
        log "writing $json"
        printf '%s\n' "$want" >"$json"
    fi
    # The packaged unit starts dockerd with -H fd://, which conflicts with "hosts" above.
    # Debian installs dockerd in /usr/sbin, docker-ce in /usr/bin: use whichever is here.
    local dockerd
    dockerd="$(command -v dockerd || true)"
    for d in /usr/sbin/dockerd /usr/bin/dockerd; do
        if [ -z "$dockerd" ] && [ -x "$ROOT$d" ]; then dockerd="$d"; fi
    done
    if [ -z "$dockerd" ]; then
        log "dockerd is not installed"
        return 1
    fi
    printf '%s\n' "# Written by clem-image: listen where daemon.json says." \
        "[Service]" "ExecStart=" \
        "ExecStart=$dockerd \$DOCKER_OPTS --containerd=/run/containerd/containerd.sock" >"$dropin"
    systemctl daemon-reload
    log "restarting docker"
    systemctl restart docker
}

node_address() {
    if [ -n "${NODE_ADDRESS:-}" ]; then
        echo "$NODE_ADDRESS"
        return
    fi
    ip -4 -o addr show dev "$INTERFACE" | awk '{split($4, a, "/"); print a[1]; exit}'
}

docker_ready() { docker info >/dev/null 2>&1; }

join_swarm_mode() {
    local state
    state="$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)"
    if [ "$state" = active ]; then
        log "already in a swarm"
        return 0
    fi
    local token
    token="$(cat "$ROOT$CONF_DIR/swarm-token")" || return 1
    if [ -z "$token" ]; then
        log "empty swarm token in $ROOT$CONF_DIR/swarm-token"
        return 1
    fi
    log "joining the swarm at $SWARM_MANAGER"
    docker swarm join --token "$token" "$SWARM_MANAGER"
}

join_legacy() {
    if [ -n "$(docker ps -aq --filter name=clem-swarm-agent)" ]; then
        log "swarm agent container already exists"
        return 0
    fi
    local addr
    addr="$(node_address)"
    if [ -z "$addr" ]; then
        log "no address on $INTERFACE yet"
        return 1
    fi
    log "starting the swarm agent ($SWARM_IMAGE) for $addr:$DOCKER_PORT"
    docker run -d --restart=always --name clem-swarm-agent "$SWARM_IMAGE" \
        join --addr="$addr:$DOCKER_PORT" "$SWARM_DISCOVERY"
}

# Zero-touch, manager side: init the swarm (once), then the watch joins the workers.
swarm_init() {
    local state addr
    state="$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)"
    if [ "$state" = active ]; then
        log "swarm already initialised"
        return 0
    fi
    addr="$(node_address)"
    if [ -z "$addr" ]; then
        log "no address on $INTERFACE yet"
        return 1
    fi
    local pool=()
    if [ -n "${ADDR_POOL:-}" ]; then pool=(--default-addr-pool "$ADDR_POOL"); fi
    log "initialising the swarm, advertising $addr"
    docker swarm init --advertise-addr "$addr" ${pool[@]+"${pool[@]}"}
}

# Legacy swarm, manager side: the 2015 swarm manager container over static discovery.
start_legacy_manager() {
    if [ -n "$(docker ps -aq --filter name=clem-swarm-manager)" ]; then
        log "swarm manager container already exists"
        return 0
    fi
    local tls=()
    if [ "$DOCKER_MODE" = tls ]; then
        tls=(--tlsverify --tlscacert=/certs/ca.pem --tlscert=/certs/manager-client-cert.pem
            --tlskey=/certs/manager-client-key.pem)
    fi
    log "starting the legacy swarm manager ($SWARM_IMAGE) on port 3376"
    docker run -d --restart=always --name clem-swarm-manager -p 3376:2375 \
        -v "$TLS_DIR:/certs:ro" "$SWARM_IMAGE" manage ${tls[@]+"${tls[@]}"} "$SWARM_DISCOVERY"
}

main() {
    log "node $NODE_NAME: docker $DOCKER_MODE, swarm $SWARM_MODE"
    if [ "$DOCKER_MODE" != none ]; then
        case "$FLAVOUR" in
            snappy-core-15) configure_snappy ;;
            *) configure_systemd ;;
        esac
    fi
    if [ "$SWARM_MODE" = legacy ] && [ -z "$DOCKER_PORT" ]; then
        # The agent advertises this node's docker on TCP to the manager; there is none.
        log "legacy swarm needs docker on TCP (DOCKER_MODE is $DOCKER_MODE)"
        # A configuration error: exit 2 tells systemd not to restart (RestartPreventExitStatus).
        exit 2
    fi
    retry docker_ready
    case "$SWARM_MODE" in
        swarm-mode) retry join_swarm_mode ;;
        zero-touch)
            if [ "${ROLE:-worker}" = manager ]; then
                retry swarm_init
                # The first round now; clem-swarm-watch.timer keeps going after that.
                systemctl start --no-block clem-swarm-watch.service || true
            else
                log "waiting to be joined by the manager (zero-touch)"
            fi
            ;;
        legacy)
            if [ "${ROLE:-worker}" = manager ]; then retry start_legacy_manager; fi
            retry join_legacy
            ;;
        *) log "no swarm configured" ;;
    esac
    mkdir -p "$STATE_DIR"
    touch "$DONE"
    log "done"
}

main "$@"
