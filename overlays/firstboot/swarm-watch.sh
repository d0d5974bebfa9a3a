#!/bin/bash
# clem-image swarm watch (manager only): every node of the cluster that answers on its
# docker TLS port and is not in a swarm is joined, with a client certificate that only the
# manager holds. Nodes already in the swarm are skipped; nodes that are gone are reported,
# never removed. Values come from node.env and cluster-nodes, written by clem-image.
set -euo pipefail

ROOT="${CLEM_ROOT:-}"
CONF_DIR="${CLEM_CONF_DIR:-/etc/clem-image}"

LOG_TAG=clem-swarm-watch
# The functions this script shares with the first-boot script, installed next to both.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_env
TLS_DIR="$CONF_DIR/tls"
TLS=(--tlsverify "--tlscacert=$TLS_DIR/ca.pem"
    "--tlscert=$TLS_DIR/manager-client-cert.pem" "--tlskey=$TLS_DIR/manager-client-key.pem")

state="$(swarm_state)"
if [ "$state" != active ]; then
    log "this node is not in an active swarm yet ($state); nothing to do"
    exit 0
fi

advertise="$(node_address)"
worker_token="$(docker swarm join-token -q worker)"
manager_token="$(docker swarm join-token -q manager)"

# remote_state HOST: the swarm state HOST's daemon reports over mutual TLS. `docker info`
# can fail yet exit 0 (it still prints the client side): only a state the daemon itself
# reported counts as an answer, anything else is the error's last line.
remote_state() {
    docker_for 30 "${TLS[@]}" -H "tcp://$1:$DOCKER_PORT" info --format '{{.Swarm.LocalNodeState}}' 2>&1 || true
}

# remote_join HOST TOKEN: HOST's daemon joins this manager's swarm.
remote_join() {
    swarm_join 120 "$2" "$advertise:2377" "${TLS[@]}" -H "tcp://$1:$DOCKER_PORT"
}

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
    node_state="$(remote_state "$host")"
    case "$node_state" in
        active | pending)
            log "node $name is in a swarm ($node_state); skipping"
            continue
            ;;
        inactive) ;;
        *)
            log "node $name ($host) is not reachable: ${node_state##*$'\n'}"
            missing=$((missing + 1))
            continue
            ;;
    esac
    token="$worker_token"
    if [ "$role" = manager ]; then token="$manager_token"; fi
    log "joining node $name ($host) as $role"
    if remote_join "$host" "$token"; then
        joined=$((joined + 1))
    else
        log "join of node $name failed; will retry"
    fi
done <"$ROOT$CONF_DIR/cluster-nodes"

# Nodes built later from the same cluster directory are on no list here: look for them on
# the cluster subnet. Mutual TLS decides who they are: only a daemon whose certificate this
# cluster's CA issued for that very address is accepted, and only it accepts our client.
# shellcheck disable=SC2016 # the inner bash expands $1 and $2, not this one
probe_tcp() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }
PROBE="${CLEM_PROBE:-probe_tcp}"

# subnet_hosts A.B.C.D/P: every host address of an IPv4 subnet of /24 to /30.
subnet_hosts() {
    local net=${1%/*} prefix=${1#*/} a b c d base size i
    IFS=. read -r a b c d <<<"$net"
    if [ "$prefix" -lt 24 ] || [ "$prefix" -gt 30 ]; then return 0; fi
    size=$((1 << (32 - prefix)))
    base=$((d / size * size))
    for ((i = base + 1; i < base + size - 1; i++)); do echo "$a.$b.$c.$i"; done
}

if [ -n "${SCAN_SUBNET:-}" ]; then
    listed=" $advertise $(awk '!/^#/ && NF >= 2 {print $2}' "$ROOT$CONF_DIR/cluster-nodes" | tr '\n' ' ') "
    found="$(mktemp)"
    for host in $(subnet_hosts "$SCAN_SUBNET"); do
        case "$listed" in *" $host "*) continue ;; esac
        { if "$PROBE" "$host" "$DOCKER_PORT"; then echo "$host" >>"$found"; fi; } &
    done
    wait
    while read -r host; do
        node_state="$(remote_state "$host")"
        case "$node_state" in
            active | pending) continue ;;
            inactive) ;;
            *)
                log "unlisted $host answers on $DOCKER_PORT but not as a node of this cluster: ${node_state##*$'\n'}"
                continue
                ;;
        esac
        log "joining unlisted node at $host as worker"
        if remote_join "$host" "$worker_token"; then
            joined=$((joined + 1))
        else
            log "join of $host failed; will retry"
        fi
    done < <(sort -u "$found")
    rm -f "$found"
fi

# Report nodes the swarm lists as down; removing them is the operator's decision.
while read -r name status; do
    if [ "$status" = Down ]; then log "node $name is down (not removed)"; fi
done <<<"$known"
log "round done: $joined joined, $missing unreachable"
