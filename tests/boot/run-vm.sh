#!/usr/bin/env bash
# Boot one node image under qemu, in the background, for the real boot test.
#
#   run-vm.sh start --image IMG --dir STATEDIR --mac MAC --mcast ADDR:PORT \
#                   --ssh-port P --docker-port P --plain-port P [--memory MiB] [--rtc YYYY-MM-DD]
#                   [--repo-port P]
#   run-vm.sh stop --dir STATEDIR
#
# The image is never written: the guest runs on a qcow2 overlay in STATEDIR. The kernel and
# initrd are read from the image's first (FAT) partition with mtools and passed to qemu
# (-kernel/-initrd/-append): the image has no x86 bootloader, as a Pi image has none.
#
# NICs (the guest names them eth0, eth1 with net.ifnames=0):
#   eth0  the private cluster segment: a UDP multicast socket on 127.0.0.1 shared by every
#         guest started with the same --mcast group; it never touches the host's network.
#         Pick a port per test run so that concurrent runs do not share a segment.
#   eth1  qemu user-mode networking with restrict=on (the guest reaches nothing outside);
#         hostfwd 127.0.0.1:<ssh-port> -> 22, <docker-port> -> 2376, <plain-port> -> 2375.
#         With --repo-port P, and only then, also guestfwd 10.0.2.100:80 -> 127.0.0.1:P on the
#         host: the base image's apt source (make-base.sh), served by pkg-server.sh. qemu runs
#         socat per guest connection; with nothing listening on P the guest's connection is
#         reset at once (apt fails fast and the first boot retries), and socat exits when
#         either side closes (netcat-openbsd would not: it waits for the guest to close).
#
# Acceleration: KVM when /dev/kvm really runs a guest (probed by booting the guest's kernel
# with no root for a moment and looking for its banner: a /dev/kvm that opens, even one that
# creates a paused vCPU, may still fail on the first instructions on nested hosts), else
# TCG. CLEM_BOOT_ACCEL=tcg|kvm forces.
# STATEDIR receives: disk.qcow2, vmlinuz, initrd.img, console.log (serial), qemu.log,
# qemu.pid, accel. `stop` kills that pid (TERM, then KILL) and is safe to repeat.
set -euo pipefail
export LC_ALL=C MTOOLS_SKIP_CHECK=1

die() { echo "run-vm: $*" >&2; exit 1; }

mode=${1:-}
shift || true
image="" dir="" mac="" mcast="" ssh_port="" docker_port="" plain_port="" repo_port=""
memory=1024
rtc=$(date -u -d '1 year ago' +%F)
while [ $# -gt 0 ]; do
    case "$1" in
        --image) image=$2 ;;
        --dir) dir=$2 ;;
        --mac) mac=$2 ;;
        --mcast) mcast=$2 ;;
        --ssh-port) ssh_port=$2 ;;
        --docker-port) docker_port=$2 ;;
        --plain-port) plain_port=$2 ;;
        --repo-port) repo_port=$2 ;;
        --memory) memory=$2 ;;
        --rtc) rtc=$2 ;;
        *) die "unknown option $1" ;;
    esac
    shift 2
done
[ -n "$dir" ] || die "--dir is required"

stop() {
    local pidfile=$dir/qemu.pid pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    # Only ever signal our own qemu: check the pid still is a qemu started on this dir.
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/disk.qcow2"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -e "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$pidfile"
}

# $1: a kernel to try. KVM counts as usable only when that kernel, booted with KVM for a
# few seconds, prints its banner: a /dev/kvm can open, create a paused vCPU and still fail
# on the first instructions (kvm-pvm's "INTERNAL_ERROR in batch emul" on nested hosts),
# leaving a guest that never prints a line.
kvm_boots() {
    local log
    log=$(mktemp)
    # With no root the kernel panics and qemu exits (-no-reboot) within a second or two.
    timeout 15 qemu-system-x86_64 -accel kvm -machine q35 -cpu max -m 256 -nodefaults \
        -display none -monitor none -serial "file:$log" -no-reboot -kernel "$1" \
        -append "console=ttyS0 panic=-1 root=/dev/clem-none" </dev/null >/dev/null 2>&1 || true
    local ok=1
    grep -q "Linux version" "$log" && ok=0
    rm -f "$log"
    return "$ok"
}

accel() {
    if [ -n "${CLEM_BOOT_ACCEL:-}" ]; then
        echo "$CLEM_BOOT_ACCEL"
    elif [ -r /dev/kvm ] && [ -w /dev/kvm ] && kvm_boots "$1"; then
        echo kvm
    else
        echo tcg
    fi
}

start() {
    for v in image mac mcast ssh_port docker_port plain_port; do
        [ -n "${!v}" ] || die "--${v//_/-} is required"
    done
    for tool in qemu-system-x86_64 qemu-img mcopy sfdisk; do
        command -v "$tool" >/dev/null || die "missing tool: $tool (run .ci/boot-deps)"
    done
    [ -f "$image" ] || die "no image $image"
    local user="user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:$ssh_port-:22"
    user+=",hostfwd=tcp:127.0.0.1:$docker_port-:2376,hostfwd=tcp:127.0.0.1:$plain_port-:2375"
    if [ -n "$repo_port" ]; then
        [[ $repo_port =~ ^[0-9]+$ ]] || die "--repo-port: not a port: $repo_port"
        local socat
        socat=$(command -v socat) || die "missing tool: socat (run .ci/boot-deps)"
        # The command's stdin, stdout and stderr are the guest's connection: no messages
        # (-lf), and at most 0.1 s between one side's end and closing the other (-t).
        user+=",guestfwd=tcp:10.0.2.100:80-cmd:$socat -lf /dev/null -t 0.1 STDIO TCP:127.0.0.1:$repo_port"
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    image=$(cd "$(dirname "$image")" && pwd)/$(basename "$image")
    stop

    # The FAT partition's offset, from the partition table.
    local start_sector
    start_sector=$(sfdisk -d "$image" | awk -F'[=,]' '/start=/ {gsub(/ /, "", $2); print $2; exit}')
    [ -n "$start_sector" ] || die "no partition table in $image"
    local fat="$image@@$((start_sector * 512))"
    mcopy -n -o -i "$fat" ::/vmlinuz "$dir/vmlinuz"
    mcopy -n -o -i "$fat" ::/initrd.img "$dir/initrd.img"

    rm -f "$dir/disk.qcow2"
    qemu-img create -q -f qcow2 -F raw -b "$image" "$dir/disk.qcow2"

    local a slow=""
    a=$(accel "$dir/vmlinuz")
    # Four TCG guests on two cores: udev can take longer than systemd's 90 s to announce
    # a disk, and the boot would fall into emergency mode. Give devices and units time.
    if [ "$a" = tcg ]; then
        slow="systemd.default_device_timeout_sec=600 systemd.default_timeout_start_sec=600"
    fi
    echo "$a" >"$dir/accel"
    : >"$dir/console.log"
    qemu-system-x86_64 \
        -name "clem-boot,process=clem-boot-$(basename "$dir")" \
        -machine q35 -accel "$a" -cpu max -smp 1 -m "$memory" \
        -display none -monitor none -serial "file:$dir/console.log" \
        -rtc "base=$rtc,clock=vm" \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
        -append "console=ttyS0 root=LABEL=rootfs rw net.ifnames=0 systemd.show_status=1 panic=-1 $slow" \
        -no-reboot \
        -drive "file=$dir/disk.qcow2,format=qcow2,if=virtio,discard=unmap" \
        -netdev "socket,id=cluster,mcast=$mcast,localaddr=127.0.0.1" \
        -device "virtio-net-pci,netdev=cluster,mac=$mac" \
        -netdev "$user" \
        -device "virtio-net-pci,netdev=mgmt" \
        -device virtio-rng-pci \
        -daemonize -pidfile "$dir/qemu.pid" >"$dir/qemu.log" 2>&1 ||
        { cat "$dir/qemu.log" >&2; die "qemu failed to start"; }
    echo "run-vm: started $(cat "$dir/qemu.pid") ($a) for $image; console: $dir/console.log; ssh 127.0.0.1:$ssh_port"
}

case "$mode" in
    start) start ;;
    stop) stop ;;
    *) die "usage: run-vm.sh start|stop --dir STATEDIR ..." ;;
esac
