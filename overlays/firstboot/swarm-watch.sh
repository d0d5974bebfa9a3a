#!/bin/bash
# clem-image swarm watch (manager only): every node of the cluster that answers on its
# docker TLS port and is not in a swarm is joined, with a client certificate that only the
# manager holds. Nodes already in the swarm are skipped; nodes that are gone are reported,
# never removed. Values come from node.env and cluster-nodes, written by clem-image.
set -euo pipefail

ROOT="${CLEM_ROOT:-}"
CONF_DIR="${CLEM_CONF_DIR:-/etc/clem-image}"

log() { echo "clem-swarm-watch: $*"; }

# shellcheck source=/dev/null
. "$ROOT$CONF_DIR/node.env"
TLS_DIR="$CONF_DIR/tls"
TLS=(--tlsverify "--tlscacert=$TLS_DIR/ca.pem"
    "--tlscert=$TLS_DIR/manager-client-cert.pem" "--tlskey=$TLS_DIR/manager-client-key.pem")

state="$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)"
if [ "$state" != active ]; then
    log "this node is not in an active swarm yet ($state); nothing to do"
    exit 0
fi

advertise="${NODE_ADDRESS:-}"
if [ -z "$advertise" ]; then
    advertise="$(ip -4 -o addr show dev "$INTERFACE" | awk '{split($4, a, "/"); print a[1]; exit}')"
fi
worker_token="$(docker swarm join-token -q worker)"
manager_token="$(docker swarm join-token -q manager)"

# What the manager already knows: host names and their status.
known="$(docker node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null || true)"

joined=0 missing=0
while read -r name address role; do
    case "$name" in '' | '#'*) continue ;; esac
    if [ "$name" = "$NODE_NAME" ]; then continue; fi
    host="$name"
    if [ "$address" != "-" ]; then host="$address"; fi
    if grep -qxF "$name Ready" <<<"$known"; then
        continue
    fi
    remote=(docker "${TLS[@]}" -H "tcp://$host:$DOCKER_PORT")
    if ! node_state="$(timeout 30 "${remote[@]}" info --format '{{.Swarm.LocalNodeState}}' 2>&1)"; then
        log "node $name ($host) is not reachable: ${node_state##*$'\n'}"
        missing=$((missing + 1))
        continue
    fi
    case "$node_state" in
        active | pending)
            log "node $name is in a swarm ($node_state); skipping"
            continue
            ;;
    esac
    token="$worker_token"
    if [ "$role" = manager ]; then token="$manager_token"; fi
    log "joining node $name ($host) as $role"
    if timeout 120 "${remote[@]}" swarm join --token "$token" "$advertise:2377"; then
        joined=$((joined + 1))
    else
        log "join of node $name failed; will retry"
    fi
done <"$ROOT$CONF_DIR/cluster-nodes"

# Report nodes the swarm lists as down; removing them is the operator's decision.
while read -r name status; do
    if [ "$status" = Down ]; then log "node $name is down (not removed)"; fi
done <<<"$known"
log "round done: $joined joined, $missing unreachable"
