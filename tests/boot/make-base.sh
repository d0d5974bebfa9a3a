#!/usr/bin/env bash
# Build (or reuse) the base image for the real boot test: an amd64 Debian trixie system
# shaped like Raspberry Pi OS, so that clem-image treats it as the raspberry-pi-os flavour:
#
#   MBR; p1 FAT32 label "bootfs" (256 MiB; mounted at /boot/firmware; holds vmlinuz and
#   initrd.img, which run-vm.sh hands to qemu -kernel/-initrd: no bootloader), p2 ext4
#   label "rootfs" (/etc/os-release ID=debian). cloud-init reads its NoCloud seed from
#   file:///boot/firmware/ as on Raspberry Pi OS (99_raspberry-pi.cfg).
#
#   No docker, as on a stock image: the image's only apt source is the local repository
#   `deb [trusted=yes] http://10.0.2.100/ ./` (run-vm.sh --repo-port connects that address
#   to a package server on the host) and it ships without package lists.
#
# Usage: tests/boot/make-base.sh OUTDIR      (as root: mmdebstrap needs it)
#   -> OUTDIR/base.img (a hard link to, or sparse copy of, the cached image)
#   -> OUTDIR/repo/    the repository for that source: the .debs of docker.io and docker-cli
#                      and of every dependency the base lacks (no Recommends), Packages,
#                      Packages.gz (pkg-repo.sh). Serve it with pkg-server.sh; its .debs
#                      are also an offline docker bundle. Hard links into the cache.
#
# Both are cached in $CLEM_BOOT_CACHE (default ~/.cache/clem-image-boot) under names keyed
# by the hash of this script and pkg-repo.sh; a second run takes seconds. Downloaded .debs
# are kept in $CLEM_BOOT_CACHE/apt so a rebuild after a script change needs no network.
# CLEM_BOOT_SUITE (default trixie) and CLEM_BOOT_MIRROR override the distribution.
set -euo pipefail

export LC_ALL=C MTOOLS_SKIP_CHECK=1
umask 022

out=${1:?usage: make-base.sh OUTDIR}
suite=${CLEM_BOOT_SUITE:-trixie}
mirror=${CLEM_BOOT_MIRROR:-http://deb.debian.org/debian}
cache=${CLEM_BOOT_CACHE:-${HOME:-/root}/.cache/clem-image-boot}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
key=$( { cat "${BASH_SOURCE[0]}" "$here/pkg-repo.sh"; echo "$suite $mirror"; } | sha256sum | cut -c1-16)
cached=$cache/base-$suite-$key.img
cached_repo=$cache/repo-$suite-$key
# What the base lacks and the guests install at first boot, from the repository.
repo_pkgs=(docker.io docker-cli)

mkdir -p "$out" "$cache"

publish() {
    rm -f "$out/base.img"
    ln "$cached" "$out/base.img" 2>/dev/null || cp --sparse=always "$cached" "$out/base.img"
    rm -rf "$out/repo"
    cp -al "$cached_repo" "$out/repo" 2>/dev/null || { rm -rf "$out/repo"; cp -a "$cached_repo" "$out/repo"; }
    local debs=("$out"/repo/*.deb)
    echo "make-base: $out/base.img (from $cached), $out/repo (${#debs[@]} .debs)"
}

if [ -s "$cached" ] && [ -s "$cached_repo/Packages" ]; then
    publish
    exit 0
fi

for tool in mmdebstrap sfdisk mkfs.vfat mcopy mke2fs truncate dd apt-ftparchive; do
    command -v "$tool" >/dev/null || { echo "make-base: missing tool: $tool (run .ci/boot-deps)" >&2; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
    echo "make-base: mmdebstrap needs root to build $cached (run as root or with sudo)" >&2
    exit 1
fi

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/clem-boot-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root" "$cache/apt"

# Layout (512-byte sectors): p1 at 8 MiB, 256 MiB FAT32; p2 follows, 2 GiB ext4 (sparse).
readonly P1_START=16384 P1_SIZE=524288
readonly P2_START=$((P1_START + P1_SIZE)) P2_SIZE=4194304
readonly DISK_SECTORS=$((P2_START + P2_SIZE))

pkgs=(
    systemd systemd-sysv udev dbus
    linux-image-amd64 initramfs-tools
    cloud-init openssh-server sudo
    iproute2 netbase iputils-ping e2fsprogs
)
IFS=, include="${pkgs[*]}"

# Everything the guest needs that Debian does not ship as Raspberry Pi OS does.
customize() {
    local r=$1
    # The NoCloud seed on the FAT partition, as Raspberry Pi OS's 99_raspberry-pi.cfg has it,
    # and a default user "pi" for the seed's ssh_authorized_keys (Debian's is "debian").
    # Not in group docker: there is none before docker is installed.
    cat >"$r/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg" <<'CFG'
# clem-image boot test: as Raspberry Pi OS (trixie) reads its seed.
datasource_list: [NoCloud, None]
datasource:
  NoCloud:
    seedfrom: file:///boot/firmware/
system_info:
  default_user:
    name: pi
    lock_passwd: true
    gecos: Raspberry Pi user
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
CFG
    # cloud-init's local stage reads the seed: it must run after /boot/firmware is mounted.
    mkdir -p "$r/etc/systemd/system/cloud-init-local.service.d"
    cat >"$r/etc/systemd/system/cloud-init-local.service.d/10-boot-firmware.conf" <<'UNIT'
[Unit]
RequiresMountsFor=/boot/firmware
UNIT
    cat >"$r/etc/fstab" <<'FSTAB'
LABEL=rootfs   /               ext4  defaults,noatime  0 1
LABEL=bootfs   /boot/firmware  vfat  defaults          0 2
FSTAB
    mkdir -p "$r/boot/firmware"
    echo raspberrypi >"$r/etc/hostname"
    printf '%s\n' "127.0.0.1	localhost" "::1		localhost ip6-localhost ip6-loopback" \
        "ff02::1		ip6-allnodes" "ff02::2		ip6-allrouters" "" \
        "127.0.1.1	raspberrypi" >"$r/etc/hosts"
    # systemd makes a machine id at first boot; every node gets its own.
    : >"$r/etc/machine-id"
    rm -f "$r/var/lib/dbus/machine-id"
    # Host keys are per machine: cloud-init (cc_ssh) makes them; keygen -A is a fallback.
    rm -f "$r"/etc/ssh/ssh_host_*
    mkdir -p "$r/etc/systemd/system/ssh.service.d"
    printf '%s\n' "[Service]" "ExecStartPre=/usr/bin/ssh-keygen -A" \
        >"$r/etc/systemd/system/ssh.service.d/10-hostkeys.conf"
    # Test plumbing, not part of the node: eth1 is qemu's user-mode NIC (DHCP), through
    # which the host reaches sshd and docker. eth0, the cluster segment, is left to
    # cloud-init's network-config. Boot waits for any one interface, not all.
    cat >"$r/etc/systemd/network/90-boot-test-eth1.network" <<'NET'
[Match]
Name=eth1

[Network]
DHCP=ipv4
NET
    mkdir -p "$r/etc/systemd/system/systemd-networkd-wait-online.service.d"
    printf '%s\n' "[Service]" "ExecStart=" \
        "ExecStart=/usr/lib/systemd/systemd-networkd-wait-online --any --timeout=60" \
        >"$r/etc/systemd/system/systemd-networkd-wait-online.service.d/10-any.conf"
    chroot "$r" systemctl enable systemd-networkd.service
    # Serial console: console=ttyS0 makes systemd start serial-getty@ttyS0 by itself; let
    # root log in there without a password (debugging only; no network login for root).
    chroot "$r" passwd -d root
    # Kernel and initramfs for qemu -kernel/-initrd, next to where the seed goes.
    cp -L "$r/vmlinuz" "$work/vmlinuz"
    cp -L "$r/initrd.img" "$work/initrd.img"
    # apt: the one source is the local repository (reached through run-vm.sh's guestfwd);
    # no lists, as a stock image ships, so the first boot must `apt-get update`. mmdebstrap's
    # --aptopt file goes too: apt's own defaults, as on a stock image.
    rm -f "$r"/etc/apt/sources.list.d/* "$r/etc/apt/apt.conf.d/99mmdebstrap"
    echo "deb [trusted=yes] http://10.0.2.100/ ./" >"$r/etc/apt/sources.list"
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/log/*.log
}

echo "make-base: mmdebstrap $suite (${pkgs[*]})"
# Before the cache is synced out: the repository's .debs are in the archive dir by then.
fetch_hook="'$here/pkg-repo.sh' fetch \"\$1\" '$work/repo'$(printf ' %s' "${repo_pkgs[@]}")"
# shellcheck disable=SC2016 # $1 is expanded by mmdebstrap's hook shell
mmdebstrap --variant=apt --include="$include" --components=main \
    --aptopt='Acquire::Retries "3"' \
    --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in '$cache/apt' /var/cache/apt/archives/" \
    --customize-hook="$fetch_hook" \
    --customize-hook="sync-out /var/cache/apt/archives '$cache/apt'" \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    "$suite" "$root" "$mirror"
customize "$root"

echo "make-base: disk image"
img=$work/base.img
truncate -s $((DISK_SECTORS * 512)) "$img"
sfdisk --quiet "$img" <<SFDISK
label: dos
label-id: 0x20261126
start=$P1_START, size=$P1_SIZE, type=c, bootable
start=$P2_START, size=$P2_SIZE, type=83
SFDISK

fat=$work/bootfs.img
truncate -s $((P1_SIZE * 512)) "$fat"
mkfs.vfat -F 32 -n bootfs -i 20261126 "$fat" >/dev/null
mcopy -i "$fat" "$work/vmlinuz" "$work/initrd.img" ::/
printf '%s\n' "clem-image boot test base: x86 kernel and initrd for qemu -kernel/-initrd." \
    "cloud-init reads meta-data, user-data and network-config from here." | mcopy -i "$fat" - ::/README.txt
dd if="$fat" of="$img" bs=1M seek=$((P1_START / 2048)) conv=notrunc,sparse status=none

ext=$work/rootfs.img
mke2fs -q -t ext4 -L rootfs -d "$root" "$ext" $((P2_SIZE / 2))k
dd if="$ext" of="$img" bs=1M seek=$((P2_START / 2048)) conv=notrunc,sparse status=none

rm -rf "$cached_repo"
mv "$work/repo" "$cached_repo"
mv "$img" "$cached.tmp"
mv "$cached.tmp" "$cached"
# Older bases and repositories (made by earlier versions of this script) only take space.
find "$cache" -maxdepth 1 -name "base-$suite-*.img" ! -name "$(basename "$cached")" -delete
find "$cache" -maxdepth 1 -name "repo-$suite-*" ! -name "$(basename "$cached_repo")" \
    -exec rm -rf {} +
echo "make-base: built $cached in $(($(date +%s) - start)) s"
publish
