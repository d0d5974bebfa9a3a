#!/bin/sh
# Benchmark: `clem-image flash` against `dd` + `sha256sum`, and against `bmaptool copy`;
# then four targets in one run (`flash --node rpi1..rpi4 T1 T2 T3 T4`) against one.
#
# Makes a sparse image (default 2 GiB with 4 x 25 MiB of random data), writes it to a file
# in $BENCH_DIR (default: a fresh directory under /var/tmp, i.e. a disk, not tmpfs) and
# prints each time and the ratios. Not a test: the numbers depend on the machine's disk.
#
# Four targets against one means something only at a card's speed: the files here are on a
# disk far faster than a card, and all four share it. No rate-limited block device can be
# made on the machines this runs on without root trouble (device-mapper's dm-delay needs the
# kernel's dm driver, absent in containers; nbd needs the nbd module), so each target's
# writes are held to CARD_BPS bytes per second (default 20000000, a class-10 card's
# sequential write) by flash's hidden bench seam CLEM_IMAGE_TEST_THROTTLE_BPS. Reading back
# is not held: cards read faster than they write. CARD_BPS=0 gives the unthrottled ratio,
# labelled as such. Both flash runs use the image's bmap.
#
#   [RUNS=3] [BENCH_DIR=dir] [CARD_BPS=n] [FLASH_BIN=path] benches/flash.sh [SIZE_MIB] [DATA_MIB_PER_RANGE]
#
# FLASH_BIN runs a binary already built (for example target/debug/clem-image) instead of
# building the release one.
set -eu

size_mib=${1:-2048}
chunk_mib=${2:-25}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLASH_BIN:-$here/target/release/clem-image}
card_bps=${CARD_BPS:-20000000}

for tool in bmaptool sha256sum dd; do
    command -v "$tool" >/dev/null || { echo "flash.sh: needs $tool" >&2; exit 1; }
done
[ -n "${FLASH_BIN:-}" ] || (cd "$here" && cargo build --release --quiet)

dir=${BENCH_DIR:-$(mktemp -d /var/tmp/clem-flash-bench.XXXXXX)}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT INT TERM

img="$dir/image.img"
truncate -s "${size_mib}M" "$img"
# Data near the start (partition table, boot), two in the middle, one near the end.
for at in 0 $((size_mib * 30 / 100)) $((size_mib * 60 / 100)) $((size_mib - chunk_mib - 1)); do
    dd if=/dev/urandom of="$img" bs=1M count="$chunk_mib" seek="$at" conv=notrunc status=none
done
bmaptool -q create -o "$img.bmap" "$img"
sync

runs=${RUNS:-3}
now() { date +%s.%N; }
# Runs "$@" $runs times and prints the best wall time in seconds (the disk is shared, so the
# minimum is the least noisy figure); the target (a file or a directory of them) is removed
# before and after each run.
timed() {
    target=$1
    shift
    best=
    i=0
    while [ "$i" -lt "$runs" ]; do
        rm -rf "$target"
        sync
        t0=$(now)
        "$@" >/dev/null 2>&1 || { echo "flash.sh: failed: $*" >&2; exit 1; }
        t1=$(now)
        rm -rf "$target"
        best=$(echo "$t0 $t1 ${best:-1e9}" | awk '{ d = $2 - $1; printf "%.2f", (d < $3 ? d : $3) }')
        i=$((i + 1))
    done
    echo "$best"
}

dd_sha() {
    dd if="$img" of="$1" bs=4M conv=fsync status=none
    sha256sum "$1"
}

t_dd=$(timed "$dir/t_dd" dd_sha "$dir/t_dd")
t_flash=$(timed "$dir/t_flash" "$bin" flash "$img" "$dir/t_flash")
t_bmaptool=$(timed "$dir/t_bmap" bmaptool -q copy --bmap "$img.bmap" "$img" "$dir/t_bmap")
t_flash_bmap=$(timed "$dir/t_fbmap" "$bin" flash --bmap "$img.bmap" "$img" "$dir/t_fbmap")
t_flash_bmap_nv=$(timed "$dir/t_fbmap" "$bin" flash --no-verify --bmap "$img.bmap" "$img" "$dir/t_fbmap")

# Four nodes' images (links to the one image and its bmap) in a build output directory.
nodes="$dir/out"
mkdir -p "$nodes"
for n in rpi1 rpi2 rpi3 rpi4; do
    ln -f "$img" "$nodes/$n.img"
    ln -f "$img.bmap" "$nodes/$n.img.bmap"
done
throttled() {
    if [ "$card_bps" -gt 0 ]; then
        CLEM_IMAGE_TEST_THROTTLE_BPS=$card_bps "$@"
    else
        "$@"
    fi
}
flash_one() {
    mkdir -p "$dir/one"
    throttled "$bin" flash --out "$nodes" --node rpi1 "$dir/one/t1"
}
flash_four() {
    mkdir -p "$dir/four"
    throttled "$bin" flash --out "$nodes" --node rpi1..rpi4 \
        "$dir/four/t1" "$dir/four/t2" "$dir/four/t3" "$dir/four/t4"
}
t_one=$(timed "$dir/one" flash_one)
t_four=$(timed "$dir/four" flash_four)
if [ "$card_bps" -gt 0 ]; then
    held="each target held to $card_bps B/s"
else
    held="UNTHROTTLED: the disk's speed, not a card's"
fi

mapped=$(awk -F'[<>]' '/^ *<MappedBlocksCount>/ { print $3 * 4096 / 1048576; exit }' "$img.bmap")
echo "image: ${size_mib} MiB, ${mapped} MiB mapped, best of $runs runs, target directory $dir ($(df -T "$dir" | awk 'NR==2 { print $2 }'))"
awk -v dd="$t_dd" -v f="$t_flash" -v b="$t_bmaptool" -v fb="$t_flash_bmap" -v fbn="$t_flash_bmap_nv" 'BEGIN {
    printf "%-44s %8s\n", "run", "seconds"
    printf "%-44s %8.2f\n", "dd bs=4M conv=fsync + sha256sum", dd
    printf "%-44s %8.2f   (%.2fx dd)\n", "clem-image flash (verify)", f, f / dd
    printf "%-44s %8.2f\n", "bmaptool copy --bmap", b
    printf "%-44s %8.2f   (%.2fx bmaptool)\n", "clem-image flash --bmap (verify)", fb, fb / b
    printf "%-44s %8.2f   (%.2fx bmaptool)\n", "clem-image flash --bmap --no-verify", fbn, fbn / b
}'
awk -v one="$t_one" -v four="$t_four" -v held="$held" 'BEGIN {
    printf "four targets against one (%s):\n", held
    printf "%-44s %8.2f\n", "clem-image flash --node rpi1 (one target)", one
    printf "%-44s %8.2f   (%.2fx one target, %.2fx four runs)\n", "clem-image flash --node rpi1..rpi4 (four)", four, four / one, four / (4 * one)
}'
