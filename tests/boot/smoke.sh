#!/usr/bin/env bash
# One-node smoke run of the boot-test infrastructure with a built clem-image:
# base image -> clem-image build (node1, docker tls) -> boot under qemu -> checks from the
# host over SSH and the forwarded docker ports. The VM is always stopped on exit
# (CLEM_BOOT_KEEP=1 leaves it running for debugging; stop it with run-vm.sh stop --dir).
#
#   tests/boot/smoke.sh WORKDIR [CLEM_IMAGE_BINARY]     (as root, for make-base)
#
# If the built image has no network-config on bootfs, a hand-written one (eth0 static
# 10.0.5.11/24 on the cluster segment) is added to WORKDIR's copy of the image.
set -uo pipefail
export LC_ALL=C MTOOLS_SKIP_CHECK=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=${1:?usage: smoke.sh WORKDIR [clem-image]}
bin=${2:-$here/../../target/release/clem-image}
mkdir -p "$work"
work=$(cd "$work" && pwd)
fail=0
check() { # check NAME CMD...: run CMD, report PASS/FAIL
    local name=$1
    shift
    if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; fail=1; fi
}

t0=$(date +%s)
"$here/make-base.sh" "$work" || exit 1
t_base=$(date +%s)

rm -rf "$work/out" "$work/cluster"
[ -e "$work/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C boot-test -f "$work/id_ed25519"
"$bin" build --image "$work/base.img" --node node1 --ssh-key "$work/id_ed25519.pub" \
    --docker tls --cluster-dir "$work/cluster" --out "$work/out" || exit 1
img=$work/out/node1.img
start=$(sfdisk -d "$img" | awk -F'[=,]' '/start=/ {gsub(/ /, "", $2); print $2; exit}')
fat="$img@@$((start * 512))"
echo "bootfs of node1.img:"; mdir -i "$fat" -b ::/
if ! mtype -i "$fat" ::/network-config >/dev/null 2>&1; then
    echo "smoke: no network-config from clem-image; adding a hand-written one"
    printf '%s\n' "version: 2" "ethernets:" "  eth0:" "    addresses: [10.0.5.11/24]" |
        mcopy -i "$fat" - ::/network-config
fi

base_port=$(shuf -i 20000-50000 -n 1)
ssh_port=$base_port docker_port=$((base_port + 1)) plain_port=$((base_port + 2))
vm=$work/vm-node1
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    "$here/pkg-server.sh" stop --state "$work/pkg-server"
    [ -n "${CLEM_BOOT_KEEP:-}" ] || "$here/run-vm.sh" stop --dir "$vm"
}
trap cleanup EXIT
# The base has no docker: the first boot installs it from the local repository, served
# at 10.0.2.100 through a guestfwd rule.
repo_port=$((base_port + 4))
"$here/pkg-server.sh" start --dir "$work/repo" --port "$repo_port" --state "$work/pkg-server" || exit 1
"$here/run-vm.sh" start --image "$img" --dir "$vm" --mac 52:54:00:c1:00:01 \
    --mcast "230.0.0.1:$((base_port + 3))" --ssh-port "$ssh_port" \
    --docker-port "$docker_port" --plain-port "$plain_port" --repo-port "$repo_port" || exit 1
t_vm=$(date +%s)

ssh_opts=(-i "$work/id_ed25519" -p "$ssh_port" -o BatchMode=yes -o ConnectTimeout=5
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
user=${CLEM_BOOT_USER:-pi}
# shellcheck disable=SC2029 # commands are meant to expand in the guest
gssh() { ssh "${ssh_opts[@]}" "$user@127.0.0.1" "$@"; }

deadline=$((t_vm + ${CLEM_BOOT_TIMEOUT:-600}))
until gssh true 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "FAIL: no SSH within ${CLEM_BOOT_TIMEOUT:-600} s; console tail:"
        tail -n 40 "$vm/console.log"
        exit 1
    fi
    sleep 5
done
t_ssh=$(date +%s)
echo "smoke: base $((t_base - t0)) s, SSH up $((t_ssh - t_vm)) s after qemu start ($(cat "$vm/accel"))"

check "hostname is node1" test "$(gssh hostname)" = node1

# Docker on 2376: wait for the first-boot unit to have configured it (it restarts docker).
c=$work/cluster
tls=(--cacert "$c/tls/ca.pem" --cert "$c/client/cert.pem" --key "$c/client/key.pem")
url=https://node1:$docker_port/version
res=(--resolve "node1:$docker_port:127.0.0.1" --max-time 10 -sS)
# The install of docker.io runs dpkg under TCG: minutes.
deadline=$(($(date +%s) + 900))
until curl "${res[@]}" "${tls[@]}" -o /dev/null "$url" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then break; fi
    sleep 5
done
t_docker=$(date +%s)
echo "smoke: docker TLS answered (or gave up) $((t_docker - t_ssh)) s after SSH"
check "TLS with client cert: /version" curl "${res[@]}" "${tls[@]}" -f "$url"
echo
check "TLS without client cert is refused" bash -c "! curl ${res[*]} --cacert $c/tls/ca.pem -f $url"
check "plain HTTP on 2376 is refused" bash -c "! curl -sS --max-time 10 -f http://127.0.0.1:$docker_port/version"
check "nothing on 2375" bash -c "! curl -sS --max-time 10 -f http://127.0.0.1:$plain_port/version"

echo "--- guest state ---"
gssh 'sudo systemctl --no-pager is-system-running; sudo systemctl --no-pager --failed;
      sudo journalctl --no-pager -u clem-firstboot; sudo systemctl --no-pager status docker | head -20;
      sudo ss -ltnp; ip -br addr; sudo cloud-init status --long; ls -l /boot/firmware;
      sudo cat /etc/docker/daemon.json' 2>&1
echo "smoke: total $(($(date +%s) - t0)) s"
exit $fail
