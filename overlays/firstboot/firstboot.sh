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

LOG_TAG=clem-firstboot
# The functions this script shares with the swarm watch, installed next to both.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -e "$DONE" ]; then
    log "already done ($DONE); nothing to do"
    exit 0
fi

load_env
TLS_DIR="$CONF_DIR/tls"

# retry CMD...: run CMD until it succeeds, doubling the wait up to a minute.
retry() {
    retry_n "$MAX_TRIES" "$@"
}

# retry_long CMD...: for what waits on the network (a package archive): about half an
# hour of tries before the unit's own restart takes over.
retry_long() {
    retry_n "${CLEM_LONG_TRIES:-35}" "$@"
}

retry_n() {
    local max=$1 try=1 delay=2
    shift
    until "$@"; do
        if [ "$try" -ge "$max" ]; then
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
    if [ -z "${DOCKER_SNAP:-}" ]; then
        # build refuses a Snappy image with no docker and no snap: the 15.04 store is gone.
        log "docker is not installed and no docker snap was put on this image"
        return 1
    fi
    log "installing docker from $DOCKER_SNAP (offline)"
    snappy install --allow-unauthenticated "$ROOT$DOCKER_SNAP"
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

# apt, waiting up to ten minutes for a lock held by the image's own first-boot jobs
# (unattended-upgrades, apt-daily); noninteractive, keeping conffiles as they are. A Pi has
# no real-time clock and an isolated cluster may never get network time: without
# Check-Date a Release file "not valid yet" would stop the install for good. Signatures
# are still checked.
apt_get() {
    DEBIAN_FRONTEND=noninteractive timeout --kill-after=30 "${CLEM_APT_TIMEOUT:-1800}" \
        apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 \
        -o Acquire::Check-Date=false -o Dpkg::Options::=--force-confold "$@"
}

have_dockerd() {
    local d
    for d in /usr/sbin/dockerd /usr/bin/dockerd; do
        if [ -x "$ROOT$d" ]; then return 0; fi
    done
    return 1
}

# The distribution's docker through the image's own apt sources. Fails (to be retried)
# until the archive answers: the network may come up minutes after the node.
apt_install_docker() {
    log "installing docker from the image's apt sources"
    apt_get update || return 1
    # apt-get update succeeds even when no source answered: ask for a candidate.
    if ! apt-cache show docker.io >/dev/null 2>&1; then
        log "docker.io is not in the package lists (yet): is the archive reachable?"
        return 1
    fi
    local pkgs=(docker.io)
    # Debian trixie and later package the CLI on its own (docker.io only recommends it).
    if apt-cache show docker-cli >/dev/null 2>&1; then pkgs+=(docker-cli); fi
    apt_get install -y --no-install-recommends "${pkgs[@]}"
}

# An offline bundle of .deb files that clem-image put on the image: no network needed.
bundle_install_docker() {
    local debs=()
    local f
    for f in "$ROOT$DOCKER_DEBS"/*.deb; do
        if [ -e "$f" ]; then debs+=("$f"); fi
    done
    if [ "${#debs[@]}" -eq 0 ]; then
        log "no .deb files in $DOCKER_DEBS"
        return 1
    fi
    log "installing docker from ${#debs[@]} packages in $DOCKER_DEBS (offline)"
    apt_get install -y --no-install-recommends "${debs[@]}"
}

install_docker() {
    case "${DOCKER_INSTALL:-present}" in
        apt) retry_long apt_install_docker ;;
        bundle) retry bundle_install_docker ;;
        *) return 0 ;;
    esac
}

# The login user may use docker, as the packages' docker group allows.
docker_group() {
    if [ -z "${LOGIN_USER:-}" ] || ! getent group docker >/dev/null; then return 0; fi
    if ! id "$LOGIN_USER" >/dev/null 2>&1; then
        log "no user $LOGIN_USER (yet) to add to the docker group"
        return 0
    fi
    if id -nG "$LOGIN_USER" | tr ' ' '\n' | grep -qxF docker; then return 0; fi
    log "adding $LOGIN_USER to the docker group"
    usermod -aG docker "$LOGIN_USER"
}

# Docker where the image has none (Debian family), then its group for the login user.
ensure_docker_debian() {
    if ! have_dockerd || [ ! -x "$ROOT/usr/bin/docker" ]; then
        install_docker
    fi
    docker_group
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

docker_ready() { docker info >/dev/null 2>&1; }

join_swarm_mode() {
    if [ "$(swarm_state)" = active ]; then
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
    swarm_join "$(docker_limit swarm)" "$token" "$SWARM_MANAGER"
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
    local addr
    if [ "$(swarm_state)" = active ]; then
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

# The swarm image from the tarball build put on the image: a 2015 docker may not be able to
# pull it from today's registries.
load_swarm_image() {
    if [ -z "${SWARM_IMAGE_FILE:-}" ]; then return 0; fi
    if [ -n "$(docker images -q "$SWARM_IMAGE" 2>/dev/null)" ]; then
        log "$SWARM_IMAGE is already loaded"
        return 0
    fi
    log "loading $SWARM_IMAGE from $SWARM_IMAGE_FILE"
    docker load -i "$ROOT$SWARM_IMAGE_FILE"
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
    log "node $NODE_NAME: docker $DOCKER_MODE (${DOCKER_INSTALL:-present}), swarm $SWARM_MODE"
    if [ "$FLAVOUR" != snappy-core-15 ]; then ensure_docker_debian; fi
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
            retry load_swarm_image
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
