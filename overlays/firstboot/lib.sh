# shellcheck shell=bash
# clem-image: the functions the first-boot script and the swarm watch share. Installed next
# to them and sourced from there; the caller sets LOG_TAG, ROOT and CONF_DIR first.

log() { echo "$LOG_TAG: $*"; }

# Every docker call is bounded: a call made while dockerd restarts can wait forever on the
# socket systemd keeps open, and one hung call would stall this run and every later one.
# (`timeout` runs the docker binary, not the `docker` function below.)
# docker_for SECONDS ARGS...: one docker call, killed 10s after SECONDS if it ignores TERM.
docker_for() {
    local limit=$1
    shift
    timeout --kill-after=10 "$limit" docker "$@"
}

# Pulls (`run`, `pull`, `load`) get longer: a Pi on a slow link may need minutes for an image.
docker_limit() {
    case "${1:-}" in
        run | pull | load) echo "${CLEM_DOCKER_PULL_TIMEOUT:-900}" ;;
        *) echo "${CLEM_DOCKER_TIMEOUT:-90}" ;;
    esac
}

docker() { docker_for "$(docker_limit "${1:-}")" "$@"; }

# node.env, written by clem-image with every value quoted.
load_env() {
    # shellcheck source=/dev/null
    . "$ROOT$CONF_DIR/node.env"
}

# This daemon's swarm state (inactive, pending, active, ...); empty when docker does not
# answer.
swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true; }

# The address this node is reached at: node.env's, else the cluster interface's first IPv4.
node_address() {
    if [ -n "${NODE_ADDRESS:-}" ]; then
        echo "$NODE_ADDRESS"
        return
    fi
    ip -4 -o addr show dev "$INTERFACE" | awk '{split($4, a, "/"); print a[1]; exit}'
}

# swarm_join SECONDS TOKEN MANAGER [DOCKER-OPTION...]: join the daemon the options name
# (this node's without any) to the swarm at MANAGER (host:port).
swarm_join() {
    local limit=$1 token=$2 manager=$3
    shift 3
    docker_for "$limit" "$@" swarm join --token "$token" "$manager"
}
