#!/usr/bin/env bash
# The boot test's package server: serves a flat apt repository (make-base.sh's OUTDIR/repo)
# over HTTP on 127.0.0.1, for guests started with run-vm.sh --repo-port PORT (they reach it
# as http://10.0.2.100/). No root needed.
#
#   pkg-server.sh start --dir REPO --port PORT --state STATEDIR
#   pkg-server.sh stop --state STATEDIR
#
# `start` returns once the port accepts connections (or fails after 10 s). STATEDIR
# receives pkg-server.pid and pkg-server.log (python's http.server: one line per request,
# `"GET /Packages.gz HTTP/1.1" 200 -`, so a test can see what the guests fetched).
# `stop` kills that pid (TERM, then KILL) and is safe to repeat.
set -euo pipefail
export LC_ALL=C

die() { echo "pkg-server: $*" >&2; exit 1; }

mode=${1:-}
shift || true
repo="" port="" state=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) repo=$2 ;;
        --port) port=$2 ;;
        --state) state=$2 ;;
        *) die "unknown option $1" ;;
    esac
    shift 2
done
[ -n "$state" ] || die "--state is required"
pidfile=$state/pkg-server.pid

ours() { # ours PID: is PID our http.server (and not a recycled pid)?
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "http.server"
}

stop() {
    [ -s "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if ours "$pid"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -e "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$pidfile"
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

start() {
    [ -n "$repo" ] || die "--dir is required"
    [[ $port =~ ^[0-9]+$ ]] || die "--port: not a port: $port"
    [ -s "$repo/Packages" ] || die "$repo has no Packages index (make-base.sh makes OUTDIR/repo)"
    command -v python3 >/dev/null || die "missing tool: python3"
    mkdir -p "$state"
    state=$(cd "$state" && pwd) pidfile=$state/pkg-server.pid
    repo=$(cd "$repo" && pwd)
    stop
    if listening; then die "port $port is already in use"; fi
    # -u: the log is written as requests come.
    python3 -u -m http.server --bind 127.0.0.1 --directory "$repo" "$port" \
        </dev/null >>"$state/pkg-server.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 100); do
        if listening; then
            echo "pkg-server: serving $repo on 127.0.0.1:$port (pid $(cat "$pidfile"))"
            return 0
        fi
        ours "$(cat "$pidfile")" || break
        sleep 0.1
    done
    tail -n 5 "$state/pkg-server.log" >&2
    stop
    die "the server did not come up on 127.0.0.1:$port"
}

case "$mode" in
    start) start ;;
    stop) stop ;;
    *) die "usage: pkg-server.sh start --dir REPO --port PORT --state STATEDIR | stop --state STATEDIR" ;;
esac
