#!/bin/sh
# Benchmark: `clem-image flash` against `dd` + `sha256sum`, and against `bmaptool copy`.
#
# Makes a sparse image (default 2 GiB with 4 x 25 MiB of random data), writes it to a file
# in $BENCH_DIR (default: a fresh directory under /var/tmp, i.e. a disk, not tmpfs) and
# prints each time and the ratios. Not a test: the numbers depend on the machine's disk.
#
#   [RUNS=3] [BENCH_DIR=dir] benches/flash.sh [SIZE_MIB] [DATA_MIB_PER_RANGE]
set -eu

size_mib=${1:-2048}
chunk_mib=${2:-25}
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/target/release/clem-image"

for tool in bmaptool sha256sum dd; do
    command -v "$tool" >/dev/null || { echo "flash.sh: needs $tool" >&2; exit 1; }
done
(cd "$here" && cargo build --release --quiet)

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
# minimum is the least noisy figure); the target is removed before and after each run.
timed() {
    target=$1
    shift
    best=
    i=0
    while [ "$i" -lt "$runs" ]; do
        rm -f "$target"
        sync
        t0=$(now)
        "$@" >/dev/null 2>&1 || { echo "flash.sh: failed: $*" >&2; exit 1; }
        t1=$(now)
        rm -f "$target"
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
