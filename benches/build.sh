#!/usr/bin/env bash
# Build benchmark (not a test; `cargo test` never runs it):
#
#   bash benches/build.sh            # defaults: 4 nodes, 256 MiB of data per system partition
#
# Makes a full-size image shaped like the Snappy 15.04 upstream one (3548 MiB raw, mostly
# empty: 64 MiB FAT32 system-boot, two 1 GiB ext4 system partitions holding pseudo-random
# files, the rest an ext4 writable), compresses it once with `xz -T2 -1`, then prints in one
# run:
#   - `clem-image build` of N nodes (release binary)  vs  one `xz -dc > /dev/null`; also the
#     same build with `--sha256` (a whole-image SHA-256 per node besides the block map)
#   - the same build  vs  a naive per-node script (`xz -dc` per node + mtools `mcopy` of the
#     two seed files), with and without a `sha256sum` per node
#   - `clem-image verify` of one node image (table, files, block map, whole-image SHA-256)
#     vs  `sha256sum`
#   - peak RSS of the build (`/usr/bin/time -v`)
#   - disk blocks used per node image vs its size and vs the upstream image's mapped data
#   - a rebuild of N nodes after a config change (another SSH key) from the base cache
#     (`--cache`, primed by one build)  vs  one `xz -dc`, and vs the floor of any copying
#     rebuild here (N x `cp --sparse=always` of the cached base, then `sync`); where this
#     file system cannot share extents and we are root with mkfs.xfs, the same rebuild on
#     XFS with reflink on a loop device (BENCH_REFLINK=0 skips it)
#   - builds of 16 and 64 nodes  vs  one `xz -dc`, with peak RSS and disk use
#   - `flash` of four targets in one run  vs  one target, each held to a card's speed
#     (benches/flash.sh, which says how; FLASH=0 skips it, FLASH_RUNS sets its runs)
# and checks them against the targets: build <= 1.3 x one decompression, cached rebuild
# <= 0.15 x, peak RSS <= 64 MiB, per-node disk use close to the mapped data.
# Every build but the cached ones runs with --no-cache, so the rounds measure decompression.
# Every build is --docker none: stock Snappy 15.04 has no docker and its store is gone, so a
# build without a docker snap is refused; the bench measures the image path, not a payload.
#
# Environment: NODES (4), ROUNDS (3: xz -dc / build pairs, median reported), DATA_MIB (256, pseudo-random file data per system partition),
# BENCH_DIR (default: a new directory under ${TMPDIR:-/tmp}, removed at exit unless
# BENCH_KEEP=1; an image made there before with the same DATA_MIB is reused),
# CLEM_IMAGE (default: target/release/clem-image, built if missing), MANY ("16 64": the
# node counts of the large builds; "" skips them, "16" skips the 64-node one, which needs
# about 64 node images' data of free disk and is skipped, with a note, when that is short).
# The caches are warm (nothing is dropped): every timing reads files the previous step wrote.

set -euo pipefail
export LC_ALL=C TZ=UTC MTOOLS_SKIP_CHECK=1

readonly NODES=${NODES:-4}
readonly DATA_MIB=${DATA_MIB:-256}
readonly SECTOR=512
readonly P1_START=8192 P1_SIZE=131072     # 64 MiB FAT32 system-boot (as upstream)
readonly P2_START=139264 P2_SIZE=2097152  # 1 GiB ext4 system-a
readonly P3_START=2236416 P3_SIZE=2097152 # 1 GiB ext4 system-b
readonly P4_START=4333568                 # ext4 writable, to the end
readonly DISK_MIB=3548                    # ~3.72 GB, the upstream image's raw size
readonly DISK_SECTORS=$((DISK_MIB * 2048))
readonly P4_SIZE=$((DISK_SECTORS - P4_START))

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

for tool in sfdisk mkfs.vfat mcopy mke2fs xz sha256sum truncate dd openssl stat du df ssh-keygen; do
    command -v "$tool" >/dev/null || { echo "build.sh: missing tool: $tool" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "build.sh: missing /usr/bin/time (apt-get install time)" >&2; exit 1; }

if [ -n "${BENCH_DIR:-}" ]; then
    work=$BENCH_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/clem-bench.XXXXXX")
fi
cleanup() {
    if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# Disk: the raw image, the .xz, a base plus 2 x N node copies (data only, sparse), one naive
# copy, one cached base.
need_mib=$(((2 * DATA_MIB + 100) * (2 * NODES + 5)))
avail_mib=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
if [ "$avail_mib" -lt "$need_mib" ]; then
    echo "build.sh: $work has ${avail_mib} MiB free, needs about ${need_mib} MiB" >&2
    exit 1
fi

clem=${CLEM_IMAGE:-$root/target/release/clem-image}
if [ ! -x "$clem" ]; then
    (cd "$root" && cargo build --release --quiet)
fi

now() { echo "${EPOCHREALTIME/,/.}"; }
# elapsed START: seconds since START, 3 decimals.
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# cpu TIMEFILE: user + system seconds from a `/usr/bin/time -f '%U %S'` file.
cpu() { awk 'END { printf "%.2f", $1 + $2 }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1048576 }'; }
# prng SEED BYTES: reproducible pseudo-random bytes (AES-CTR keystream).
# (openssl dies of SIGPIPE when head has enough: that is not a failure.)
prng() {
    { openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2 </dev/zero 2>/dev/null || true; } |
        head -c "$2"
}

raw=$work/upstream.img
stamp=$work/upstream.params
params="$DISK_MIB $DATA_MIB v2"  # v2: cloud-init and extrausers on the image
if [ -f "$raw.xz" ] && [ -f "$raw" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$params" ]; then
    echo "== reusing the image in $work (BENCH_DIR with the same DATA_MIB)"
else
# (The making below is the body of this `else`, left unindented for readability.)
rm -f "$raw" "$raw.xz" "$stamp"
echo "== making a ${DISK_MIB} MiB image with 2 x ${DATA_MIB} MiB of file data in $work"
t0=$(now)
export E2FSPROGS_FAKE_TIME=1429660800 SOURCE_DATE_EPOCH=1429660800

fat=$work/boot.fat
truncate -s $((P1_SIZE * SECTOR)) "$fat"
mkfs.vfat -F 32 -S "$SECTOR" -s 1 -h "$P1_START" -n system-boot --invariant -i 15042015 \
    --mbr=n "$fat" >/dev/null 2>&1
mkdir -p "$work/boot"
prng boot-kernel $((6 << 20)) >"$work/boot/kernel.img"
prng boot-initrd $((9 << 20)) >"$work/boot/initrd.img"
printf 'snappy_mode=regular\nsnappy_ab=a\n' >"$work/boot/snappy-system.txt"
touch -d @1429660800 "$work"/boot/*
mcopy -m -i "$fat" "$work"/boot/* ::/

# system_tree DIR SEED: os-release, writable-paths, and DATA_MIB of files of 1..8 MiB.
system_tree() {
    local dir=$1 seed=$2 left=$((DATA_MIB << 20)) i=0 n
    mkdir -p "$dir/etc/system-image" "$dir/usr/lib/data"
    printf 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="15.04"\n' >"$dir/etc/os-release"
    printf '/home user-data persistent transition none\n/etc/writable auto persistent none none\n' \
        >"$dir/etc/system-image/writable-paths"
    # What the build checks before it trusts a seed: cloud-init with NoCloud.
    mkdir -p "$dir/etc/cloud" "$dir/usr/bin"
    printf 'datasource_list: [NoCloud, None]\n' >"$dir/etc/cloud/cloud.cfg"
    printf '#!/bin/sh\n' >"$dir/usr/bin/cloud-init"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$dir/etc/passwd"
    while [ "$left" -gt 0 ]; do
        n=$((((i * 7919) % 8 + 1) << 20))
        [ "$n" -le "$left" ] || n=$left
        prng "$seed-$i" "$n" >"$dir/usr/lib/data/blob$i"
        left=$((left - n))
        i=$((i + 1))
    done
}

# ext4 NAME SECTORS UUID_DIGIT [TREE]: an ext4 image labelled NAME, from TREE if given.
ext4() {
    local img=$work/$1.ext4
    truncate -s $(($2 * SECTOR)) "$img"
    mke2fs -q -F -t ext4 -b 4096 -L "$1" -U "15042015-0000-4000-8000-00000000000$3" \
        -E "hash_seed=15042015-4848-4848-8484-000000000048" ${4:+-d "$4"} "$img"
}

system_tree "$work/system-a" a
system_tree "$work/system-b" b
ext4 system-a "$P2_SIZE" a "$work/system-a"
ext4 system-b "$P3_SIZE" b "$work/system-b"
# writable: the default user in extrausers and a home, as on the real image.
mkdir -p "$work/writable/system-data/var/lib/extrausers" "$work/writable/user-data/ubuntu"
printf 'ubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n' \
    >"$work/writable/system-data/var/lib/extrausers/passwd"
ext4 writable "$P4_SIZE" c "$work/writable"
rm -rf "${work:?}/system-a" "${work:?}/system-b" "${work:?}/boot" "${work:?}/writable"

echo "   file systems made in $(elapsed "$t0") s"
truncate -s $((DISK_SECTORS * SECTOR)) "$raw"
sfdisk --quiet --no-reread --no-tell-kernel "$raw" <<EOF
label: dos
label-id: 0x15042015
unit: sectors

start=$P1_START, size=$P1_SIZE, type=c, bootable
start=$P2_START, size=$P2_SIZE, type=83
start=$P3_START, size=$P3_SIZE, type=83
start=$P4_START, size=$P4_SIZE, type=83
EOF
put_part() {
    dd if="$1" of="$raw" bs=1M seek=$(($2 * SECTOR)) oflag=seek_bytes conv=notrunc,sparse \
        status=none
    rm -f "$1"
}
put_part "$fat" "$P1_START"
put_part "$work/system-a.ext4" "$P2_START"
put_part "$work/system-b.ext4" "$P3_START"
put_part "$work/writable.ext4" "$P4_START"
echo "   image assembled in $(elapsed "$t0") s; compressing (xz -T2 -1)"
xz -T2 -1 -k -c "$raw" >"$raw.xz"
echo "$params" >"$stamp"
echo "   made in $(elapsed "$t0") s"
fi
size=$(stat -c %s "$raw")
mapped=$(($(stat -c %b "$raw") * $(stat -c %B "$raw")))
echo "   raw $(mib "$size") MiB, mapped $(mib "$mapped") MiB, xz $(mib "$(stat -c %s "$raw.xz")") MiB"

key=$work/bench_ed25519.pub
cp "$root/fixtures/keys/test_ed25519.pub" "$key"

# The headline ratio is measured in ROUNDS rounds, each one `xz -dc` then one build, and the
# median of the per-round ratios is reported: on a shared machine a single pair can be off
# by 20 % either way, and pairing keeps slow spells from landing on one side only.
rounds=${ROUNDS:-3}
out=$work/out
ratios=()
for round in $(seq 1 "$rounds"); do
    # Each round starts on a quiet disk: the last round's images are removed and its
    # writeback finished, so no round pays for the one before it.
    rm -rf "$out"
    sync
    echo "== round $round/$rounds: one decompression, xz -T1 -dc > /dev/null"
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$work/xz.time" xz -T1 -dc "$raw.xz" >/dev/null
    t_xz_r=$(elapsed "$t0")
    c_xz_r=$(cpu "$work/xz.time")
    echo "   $t_xz_r s (CPU $c_xz_r s)"

    echo "== round $round/$rounds: clem-image build of $NODES nodes (release)"
    t0=$(now)
    /usr/bin/time -v -o "$work/build.time" \
        "$clem" build --docker none --image "$raw.xz" --node "rpi1..rpi$NODES" --ssh-key "$key" --out "$out" \
        --no-cache 2>&1 >/dev/null | while IFS= read -r line; do
        printf '   %8s s  %s\n' "$(elapsed "$t0")" "$line"
    done
    t_build_r=$(elapsed "$t0")
    [ -f "$out/rpi$NODES.img" ] || { echo "build.sh: the build failed" >&2; exit 1; }
    rss_kib_r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/build.time")
    c_build_r=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' \
        "$work/build.time")
    echo "   $t_build_r s (CPU $c_build_r s), peak RSS $(mib $((rss_kib_r * 1024))) MiB"
    r=$(ratio "$t_build_r" "$t_xz_r")
    ratios+=("$r $t_xz_r $t_build_r $c_xz_r $c_build_r $rss_kib_r")
done
# The round with the median ratio gives every number reported below.
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk -v n="$rounds" 'NR == int((n + 1) / 2)')
read -r _ t_xz t_build c_xz c_build rss_kib <<<"$median"
all_ratios=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ printf "%s ", $1 }')
rss_kib=$(printf '%s\n' "${ratios[@]}" | awk '$6 > m { m = $6 } END { print m }')

echo "== the same build with --sha256 (whole-image hash per node too)"
out_sha=$work/out-sha
rm -rf "$out_sha"
t0=$(now)
/usr/bin/time -f '%U %S' -o "$work/build-sha.time" \
    "$clem" build --docker none --image "$raw.xz" --node "rpi1..rpi$NODES" --ssh-key "$key" --out "$out_sha" \
    --sha256 --no-cache >/dev/null 2>&1
t_build_sha=$(elapsed "$t0")
c_build_sha=$(cpu "$work/build-sha.time")
[ -f "$out_sha/rpi$NODES.img.sha256" ] || { echo "build.sh: the --sha256 build failed" >&2; exit 1; }
echo "   $t_build_sha s (CPU $c_build_sha s)"
rm -f "$out_sha"/rpi[2-9]*.img

echo "== naive: per node xz -dc to a file, mcopy the two seed files (then sha256sum)"
naive=$work/naive
mkdir -p "$naive"
printf 'instance-id: naive\n' >"$naive/meta-data"
printf '#cloud-config\nhostname: naive\n' >"$naive/user-data"
t_naive=0
t_naive_sha=0
for i in $(seq 1 "$NODES"); do
    img=$naive/rpi$i.img
    t0=$(now)
    xz -T1 -dc "$raw.xz" >"$img"
    mcopy -o -i "$img@@$((P1_START * SECTOR))" "$naive/meta-data" "$naive/user-data" ::/
    t=$(elapsed "$t0")
    t0=$(now)
    sha256sum "$img" >/dev/null
    ts=$(elapsed "$t0")
    t_naive=$(awk -v a="$t_naive" -v b="$t" 'BEGIN { print a + b }')
    t_naive_sha=$(awk -v a="$t_naive_sha" -v b="$t" -v c="$ts" 'BEGIN { print a + b + c }')
    rm -f "$img"
done
echo "   $t_naive s; with sha256sum per node $t_naive_sha s"

echo "== hashing one node image: clem-image verify vs sha256sum"
t0=$(now)
/usr/bin/time -f '%U %S' -o "$work/verify.time" "$clem" verify "$out_sha/rpi1.img" >/dev/null
t_verify=$(elapsed "$t0")
t0=$(now)
/usr/bin/time -f '%U %S' -o "$work/sha.time" sha256sum "$out_sha/rpi1.img" >/dev/null
t_sha=$(elapsed "$t0")
c_verify=$(cpu "$work/verify.time")
c_sha=$(cpu "$work/sha.time")
echo "   verify $t_verify s (CPU $c_verify s), sha256sum $t_sha s (CPU $c_sha s)"

other=$work/other_ed25519
[ -f "$other.pub" ] || ssh-keygen -q -t ed25519 -N '' -C bench-other -f "$other"

# cached DIR TAG: primes a cache in DIR with one build, then times a rebuild of N nodes after
# a config change (another SSH key); sets t_cached[TAG] and rss_cached[TAG]. The timed build
# starts after a `sync`, so no earlier step's writeback is counted in it.
declare -A t_cached rss_cached
cached() {
    local dir=$1 tag=$2 cache=$1/cache o=$1/out-cached
    rm -rf "$cache" "$o"
    "$clem" build --docker none --image "$raw.xz" --node "rpi1..rpi$NODES" --ssh-key "$key" --out "$o" \
        --cache "$cache" >/dev/null 2>&1 || { echo "build.sh: the cache-priming build failed" >&2; exit 1; }
    sync
    t0=$(now)
    /usr/bin/time -v -o "$work/cached.time" \
        "$clem" build --docker none --image "$raw.xz" --node "rpi1..rpi$NODES" --ssh-key "$key" \
        --ssh-key "$other.pub" --out "$o" --cache "$cache" >/dev/null 2>"$work/cached.err"
    t_cached[$tag]=$(elapsed "$t0")
    grep -q 'read 0 bytes of the input' "$work/cached.err" ||
        { echo "build.sh: the rebuild did not use the cache:" >&2; cat "$work/cached.err" >&2; exit 1; }
    rss_cached[$tag]=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/cached.time")
    echo "   ${t_cached[$tag]} s, peak RSS $(mib $((rss_cached[$tag] * 1024))) MiB"
}

# Whether DIR's file system shares extents (reflink): then a node's copy costs no data.
reflinks() {
    printf x >"$1/.reflink-a" && cp --reflink=always "$1/.reflink-a" "$1/.reflink-b" 2>/dev/null
    local ok=$?
    rm -f "$1/.reflink-a" "$1/.reflink-b"
    return $ok
}

fs_type=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work")
echo "== cached rebuild: $NODES nodes after a config change, base from the cache ($fs_type)"
cached "$work" here
# The floor of any copying rebuild on this file system: the cached base copied N times
# (holes kept), then synced, as the build makes every node image durable.
base_img=$(ls "$work"/cache/*/base.img)
sync
t0=$(now)
for i in $(seq "$NODES"); do cp --sparse=always "$base_img" "$work/floor-$i.img"; done
sync
t_floor=$(elapsed "$t0")
rm -f "$work"/floor-*.img
echo "== the floor: $NODES x cp --sparse=always of the cached base, then sync"
echo "   $t_floor s"
rm -rf "$work/out-cached" "$work/cache"

# Where this file system cannot share extents, the same rebuild on one that can: XFS on a
# loop device (root and mkfs.xfs needed; BENCH_REFLINK=0 skips it).
xfs_mnt=""
if ! reflinks "$work" && [ "${BENCH_REFLINK:-1}" = 1 ] && [ "$(id -u)" = 0 ] &&
    command -v mkfs.xfs >/dev/null; then
    xfs_mnt=$work/xfs
    truncate -s $(((mapped >> 20) * (NODES + 4) + 2048))M "$work/xfs.fs"
    mkfs.xfs -q -m reflink=1 "$work/xfs.fs" && mkdir -p "$xfs_mnt" && mount -o loop "$work/xfs.fs" "$xfs_mnt"
    cleanup_xfs() { umount "$xfs_mnt" 2>/dev/null || true; rm -f "$work/xfs.fs"; }
    trap 'cleanup_xfs; cleanup' EXIT
    echo "== cached rebuild on XFS with reflink (a loop device in $work)"
    cached "$xfs_mnt" xfs
    cleanup_xfs
fi

# many N: a build of N nodes (uncached); sets t_many_N, rss_many_N, disk_many_N.
declare -A t_many rss_many disk_many
many() {
    local n=$1 o=$work/out-many
    local need=$(((mapped >> 20) * (n + 2)))
    local avail
    avail=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
    if [ "$avail" -lt "$need" ]; then
        echo "== $n nodes: skipped, $work has ${avail} MiB free and needs about ${need} MiB"
        return
    fi
    echo "== $n nodes (uncached)"
    rm -rf "$o"
    t0=$(now)
    /usr/bin/time -v -o "$work/many.time" \
        "$clem" build --docker none --image "$raw.xz" --node "rpi1..rpi$n" --ssh-key "$key" --out "$o" \
        --no-cache >/dev/null 2>&1 || { echo "build.sh: the $n-node build failed" >&2; exit 1; }
    t_many[$n]=$(elapsed "$t0")
    rss_many[$n]=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/many.time")
    disk_many[$n]=$(du -sk "$o" | awk '{ print $1 * 1024 }')
    echo "   ${t_many[$n]} s, peak RSS $(mib $((rss_many[$n] * 1024))) MiB," \
        "disk $(mib "${disk_many[$n]}") MiB"
    rm -rf "$o"
}
for n in ${MANY-16 64}; do many "$n"; done

# Four-target flash against one, in the same run; a failure there is reported, not fatal,
# since every number above stands without it.
flash_out=$work/flash.out
: >"$flash_out"
if [ "${FLASH:-1}" = 1 ]; then
    echo "== flash: four targets against one (benches/flash.sh)"
    if RUNS=${FLASH_RUNS:-3} FLASH_BIN=$clem BENCH_DIR=$work/flash \
        sh "$root/benches/flash.sh" >"$flash_out"; then
        sed 's/^/   /' "$flash_out"
    else
        echo "   benches/flash.sh failed; its ratio is left out" >&2
        : >"$flash_out"
    fi
fi

node_size=$(stat -c %s "$out/rpi1.img")
node_used=$(($(stat -c %b "$out/rpi1.img") * $(stat -c %B "$out/rpi1.img")))

echo
echo "== results ($NODES nodes, ${DISK_MIB} MiB image, $(nproc) CPUs, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg))"
echo "   (wall-clock ratios; on a shared machine the CPU-time ratios are steadier)"
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; then echo met; else echo MISSED; fi; }
r_build=$(ratio "$t_build" "$t_xz")
printf '%-52s %8s  (target <= 1.30: %s)\n' "build / one xz -dc (median of $rounds rounds)" "$r_build" \
    "$(verdict "$r_build" 1.30)"
printf '%-52s %8s\n' "  every round's ratio" "$all_ratios"
printf '%-52s %8s\n' "  the same in CPU time (user + system)" "$(ratio "$c_build" "$c_xz")"
printf '%-52s %8s\n' "build --sha256 / one xz -dc" "$(ratio "$t_build_sha" "$t_xz")"
r_cached=$(ratio "${t_cached[here]}" "$t_xz")
printf '%-52s %8s  (target <= 0.15: %s)\n' "cached rebuild of $NODES nodes / one xz -dc, $fs_type" "$r_cached" \
    "$(verdict "$r_cached" 0.15)"
printf '%-52s %8s\n' "  against $NODES x cp --sparse=always + sync" "$(ratio "${t_cached[here]}" "$t_floor")"
printf '%-52s %8s\n' "  $NODES x cp --sparse=always + sync / one xz -dc" "$(ratio "$t_floor" "$t_xz")"
if [ -n "${t_cached[xfs]:-}" ]; then
    r_xfs=$(ratio "${t_cached[xfs]}" "$t_xz")
    printf '%-52s %8s  (target <= 0.15: %s)\n' "cached rebuild of $NODES nodes / one xz -dc, xfs reflink" \
        "$r_xfs" "$(verdict "$r_xfs" 0.15)"
fi
for n in ${MANY-16 64}; do
    [ -n "${t_many[$n]:-}" ] || { printf '%-52s %8s\n' "build of $n nodes / one xz -dc" skipped; continue; }
    printf '%-52s %8s  (peak RSS %s MiB, disk %s MiB)\n' "build of $n nodes / one xz -dc" \
        "$(ratio "${t_many[$n]}" "$t_xz")" "$(mib $((rss_many[$n] * 1024)))" "$(mib "${disk_many[$n]}")"
done
r_flash=$(sed -n 's/.*(\([0-9.]*\)x one target.*/\1/p' "$flash_out")
if [ -n "$r_flash" ]; then
    printf '%-52s %8s  (%s)\n' "flash of 4 targets / flash of 1" "$r_flash" \
        "$(sed -n 's/^four targets against one (\(.*\)):$/\1/p' "$flash_out")"
else
    printf '%-52s %8s\n' "flash of 4 targets / flash of 1" skipped
fi
printf '%-52s %8s\n' "build / naive (xz -dc + mcopy per node)" "$(ratio "$t_build" "$t_naive")"
printf '%-52s %8s\n' "build --sha256 / naive with sha256sum per node" "$(ratio "$t_build_sha" "$t_naive_sha")"
printf '%-52s %8s\n' "verify rpi1.img / sha256sum rpi1.img" "$(ratio "$t_verify" "$t_sha")"
printf '%-52s %8s\n' "  the same in CPU time" "$(ratio "$c_verify" "$c_sha")"
rss_mib=$(mib $((rss_kib * 1024)))
printf '%-52s %8s  (target <= 64: %s)\n' "peak RSS of the build, MiB" "$rss_mib" "$(verdict "$rss_mib" 64)"
printf '%-52s %8s\n' "node image size, MiB" "$(mib "$node_size")"
printf '%-52s %8s\n' "node image disk use, MiB" "$(mib "$node_used")"
printf '%-52s %8s\n' "upstream mapped data, MiB" "$(mib "$mapped")"
printf '%-52s %8s\n' "node disk use / mapped data" "$(ratio "$node_used" "$mapped")"
echo "seconds (wall): xz -dc $t_xz, build $t_build, build --sha256 $t_build_sha, cached ${t_cached[here]}," \
    "floor $t_floor${t_cached[xfs]:+, cached on xfs ${t_cached[xfs]}}," \
    "naive $t_naive, naive+sha $t_naive_sha," \
    "verify $t_verify, sha256sum $t_sha"
echo "seconds (CPU):  xz -dc $c_xz, build $c_build, build --sha256 $c_build_sha," \
    "verify $c_verify, sha256sum $c_sha"
