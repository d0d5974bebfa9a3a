#!/bin/bash
# clem-image swarm watch (manager only): every node of the cluster that answers on its
# docker TLS port and is not in a swarm is joined, with a client certificate that only the
# manager holds. Nodes already in the swarm are skipped; nodes that are gone are reported,
# never removed. Values come from node.env and cluster-nodes, written by clem-image.
#
# One run is a loop of short rounds (CLEM_WATCH_TICK, 3 s), so that a member whose docker
# comes up is joined within seconds: the listed members are probed every round, each with
# its own backoff while it stays away (up to CLEM_WATCH_BACKOFF_MAX, 30 s); a member that
# answers but refuses the port (booting, docker not configured yet) stays on the short
# round. The subnet scan for unlisted nodes keeps its old pace (once a minute). A run ends
# after CLEM_WATCH_FOR seconds (or CLEM_WATCH_ROUNDS rounds, for tests); the timer starts
# the next one.
set -euo pipefail

ROOT="${CLEM_ROOT:-}"
CONF_DIR="${CLEM_CONF_DIR:-/etc/clem-image}"
SLEEP="${CLEM_SLEEP:-sleep}"
TICK="${CLEM_WATCH_TICK:-3}"
ROUNDS="${CLEM_WATCH_ROUNDS:-0}"
RUN_FOR="${CLEM_WATCH_FOR:-600}"

LOG_TAG=clem-swarm-watch
# The functions this script shares with the first-boot script, installed next to both.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_env
TLS_DIR="$CONF_DIR/tls"
TLS=(--tlsverify "--tlscacert=$TLS_DIR/ca.pem"
    "--tlscert=$TLS_DIR/manager-client-cert.pem" "--tlskey=$TLS_DIR/manager-client-key.pem")

# Paces in rounds: the backoff cap, the subnet scan, and how often `node ls` is asked while
# every listed member is Ready (a re-flashed node shows up as Down there).
per_tick() { local n=$(($1 / TICK)); echo $((n < 1 ? 1 : n)); }
MAX_DELAY="$(per_tick "${CLEM_WATCH_BACKOFF_MAX:-30}")"
SCAN_EVERY="$(per_tick 60)"
RECHECK_EVERY="$(per_tick 30)"

# remote_state HOST: the swarm state HOST's daemon reports over mutual TLS. `docker info`
# can fail yet exit 0 (it still prints the client side): only a state the daemon itself
# reported counts as an answer, anything else is the error's last line.
remote_state() {
    docker_for 30 "${TLS[@]}" -H "tcp://$1:$DOCKER_PORT" info --format '{{.Swarm.LocalNodeState}}' 2>&1 || true
}

# remote_join HOST ROLE: HOST's daemon joins this manager's swarm as ROLE. The token is
# asked for once per run and role; a failed join asks again (it may have been rotated).
declare -A tokens=()
remote_join() {
    if [ -z "${tokens[$2]:-}" ]; then
        tokens[$2]="$(docker swarm join-token -q "$2")" || return 1
    fi
    if swarm_join 120 "${tokens[$2]}" "$advertise:2377" "${TLS[@]}" -H "tcp://$1:$DOCKER_PORT"; then
        return 0
    fi
    unset "tokens[$2]"
    return 1
}

# fetch_tokens: the join tokens of the roles the listed members (and, with a subnet scan,
# unlisted workers) join as, asked for as soon as the swarm is active and a member is not
# Ready yet: the join of a node whose docker comes up then costs one docker call fewer (in
# a slow guest, seconds). A role whose token cannot be had is asked for again at its join.
fetch_tokens() {
    local role
    for role in $(printf '%s\n' "${roles[@]}" ${SCAN_SUBNET:+worker} | sort -u); do
        if [ -n "${tokens[$role]:-}" ]; then continue; fi
        tokens[$role]="$(docker swarm join-token -q "$role" 2>/dev/null)" || unset "tokens[$role]"
    done
}

# probe_tcp HOST PORT: 0 when PORT answers, 1 when HOST refuses it (the host is up, its
# docker is not listening yet), 2 when nothing answers at all.
# shellcheck disable=SC2016 # the inner bash expands $1 and $2, not this one
probe_tcp() {
    local err
    if err="$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>&1)"; then return 0; fi
    case "$err" in *refused*) return 1 ;; esac
    return 2
}
PROBE="${CLEM_PROBE:-probe_tcp}"

# The listed members, read once the swarm is active: name, host to call, role.
names=() hosts=() roles=()
load_members() {
    local name address role host
    while read -r name address role; do
        case "$name" in '' | '#'*) continue ;; esac
        if [ "$name" = "$NODE_NAME" ]; then continue; fi
        host="$name"
        if [ "$address" != "-" ]; then host="$address"; fi
        names+=("$name") hosts+=("$host") roles+=("$role")
    done <"$ROOT$CONF_DIR/cluster-nodes"
}

# Per member: the round it is probed next, its current backoff (rounds), and the last
# thing logged about it (the journal hears of a change, not of every round).
declare -A due=() delay=() said=()
declare -A down=()
tick=0 joined=0 advertise="" known="" next_ls=0 next_scan=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# say KEY MESSAGE: log MESSAGE unless it is what was last logged for KEY.
say() {
    if [ "${said[$1]:-}" != "$2" ]; then
        said[$1]="$2"
        log "$2"
    fi
}

# again_soon NAME: probe NAME next round. back_off NAME: wait twice as long as last time.
again_soon() {
    delay[$1]=0
    due[$1]=$((tick + 1))
}
back_off() {
    local d=$((${delay[$1]:-0} * 2))
    if [ "$d" -lt 1 ]; then d=1; fi
    if [ "$d" -gt "$MAX_DELAY" ]; then d=$MAX_DELAY; fi
    delay[$1]=$d
    due[$1]=$((tick + d))
}

# member_answers I: member I answers on the docker port; join it when it is in no swarm.
member_answers() {
    local name=${names[$1]} host=${hosts[$1]} role=${roles[$1]} state
    state="$(remote_state "$host")"
    case "$state" in
        active | pending)
            say "$name" "node $name is in a swarm ($state); skipping"
            back_off "$name"
            return
            ;;
        inactive) ;;
        *)
            say "$name" "node $name ($host) is not reachable: ${state##*$'\n'}"
            back_off "$name"
            return
            ;;
    esac
    log "joining node $name ($host) as $role"
    if remote_join "$host" "$role"; then
        joined=$((joined + 1))
        said[$name]=""
        again_soon "$name"
    else
        log "join of node $name failed; will retry"
        back_off "$name"
    fi
}

# Listed members not Ready and due this round: probed all at once, then handled in order.
members_round() {
    local i name due_now=() rc
    for i in "${!names[@]}"; do
        name=${names[$i]}
        if grep -qxF "$name Ready" <<<"$known"; then
            unset "due[$name]" "delay[$name]" "said[$name]"
            continue
        fi
        if [ "${due[$name]:-0}" -le "$tick" ]; then due_now+=("$i"); fi
    done
    for i in "${due_now[@]}"; do
        { if "$PROBE" "${hosts[$i]}" "$DOCKER_PORT"; then rc=0; else rc=$?; fi; echo "$rc" >"$work/$i"; } &
    done
    wait
    for i in "${due_now[@]}"; do
        name=${names[$i]}
        case "$(cat "$work/$i")" in
            0) member_answers "$i" ;;
            1)
                say "$name" "node $name (${hosts[$i]}) is up; its docker is not on $DOCKER_PORT yet"
                again_soon "$name"
                ;;
            *)
                say "$name" "node $name (${hosts[$i]}) is not reachable: no answer on $DOCKER_PORT"
                back_off "$name"
                ;;
        esac
    done
}

# Are all listed members Ready in the last `node ls`?
all_ready() {
    local name
    for name in "${names[@]}"; do
        if ! grep -qxF "$name Ready" <<<"$known"; then return 1; fi
    done
}

# subnet_hosts A.B.C.D/P: every host address of an IPv4 subnet of /24 to /30.
subnet_hosts() {
    local net=${1%/*} prefix=${1#*/} a b c d base size i
    IFS=. read -r a b c d <<<"$net"
    if [ "$prefix" -lt 24 ] || [ "$prefix" -gt 30 ]; then return 0; fi
    size=$((1 << (32 - prefix)))
    base=$((d / size * size))
    for ((i = base + 1; i < base + size - 1; i++)); do echo "$a.$b.$c.$i"; done
}

# Nodes built later from the same cluster directory are on no list here: look for them on
# the cluster subnet. Mutual TLS decides who they are: only a daemon whose certificate this
# cluster's CA issued for that very address is accepted, and only it accepts our client.
scan_round() {
    local listed host state found="$work/found"
    listed=" $advertise ${hosts[*]} "
    : >"$found"
    for host in $(subnet_hosts "$SCAN_SUBNET"); do
        case "$listed" in *" $host "*) continue ;; esac
        { if "$PROBE" "$host" "$DOCKER_PORT"; then echo "$host" >>"$found"; fi; } &
    done
    wait
    while read -r host; do
        state="$(remote_state "$host")"
        case "$state" in
            active | pending) continue ;;
            inactive) ;;
            *)
                say "unlisted $host" "unlisted $host answers on $DOCKER_PORT but not as a node of this cluster: ${state##*$'\n'}"
                continue
                ;;
        esac
        log "joining unlisted node at $host as worker"
        if remote_join "$host" worker; then
            joined=$((joined + 1))
        else
            log "join of $host failed; will retry"
        fi
    done < <(sort -u "$found")
}

# Nodes the swarm lists as down, once each time they go down; removing them is the
# operator's decision.
report_down() {
    local name status
    declare -A now=()
    while read -r name status; do
        if [ "$status" != Down ]; then continue; fi
        now[$name]=1
        if [ -z "${down[$name]:-}" ]; then log "node $name is down (not removed)"; fi
    done <<<"$known"
    down=()
    for name in "${!now[@]}"; do down[$name]=1; done
}

# not_active: log why this round does nothing (once), and look again next round.
not_active() {
    local state="no docker"
    # Until docker is installed its socket is missing: no docker call every round then,
    # while the first boot installs it (slow on a Pi).
    if [ -e "$ROOT/var/run/docker.sock" ]; then state="$(swarm_state)"; fi
    advertise=""
    say self "this node is not in an active swarm yet ($state); waiting"
}

round() {
    # What the manager knows: host names and their status. `node ls` answering is also
    # how a round knows the swarm is active (one docker call instead of two).
    if [ -z "$advertise" ] || [ "$tick" -ge "$next_ls" ] || ! all_ready; then
        if [ ! -e "$ROOT/var/run/docker.sock" ] ||
            ! known="$(docker node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null)"; then
            known=""
            not_active
            return
        fi
        next_ls=$((tick + RECHECK_EVERY))
        report_down
    fi
    if [ -z "$advertise" ]; then
        said[self]=""
        advertise="$(node_address)"
        if [ "${#names[@]}" -eq 0 ]; then load_members; fi
        if ! all_ready; then fetch_tokens; fi
    fi
    members_round
    if [ -n "${SCAN_SUBNET:-}" ] && [ "$tick" -ge "$next_scan" ]; then
        scan_round
        next_scan=$((tick + SCAN_EVERY))
    fi
}

started=$SECONDS
while :; do
    round
    tick=$((tick + 1))
    if [ "$ROUNDS" -gt 0 ]; then
        if [ "$tick" -ge "$ROUNDS" ]; then break; fi
    elif [ $((SECONDS - started)) -ge "$RUN_FOR" ]; then
        break
    fi
    "$SLEEP" "$TICK"
done
log "run done: $tick rounds, $joined joined"
