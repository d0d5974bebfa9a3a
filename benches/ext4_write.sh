#!/usr/bin/env bash
# Benchmark (not a test): write 1000 small files and one 100 MiB file into a fresh
# ext4 image with clem-image's Ext4Writer (examples/ext4_write_bench.rs) and with
# `debugfs -w -f script` on a copy of the same image; print both times and the ratio.
#
# Usage: benches/ext4_write.sh [BLOCK_SIZE]   (default 4096; needs mke2fs, debugfs, e2fsck)
set -euo pipefail

bs=${1:-4096}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --quiet --release --example ext4_write_bench --manifest-path "$root/Cargo.toml"
bin="$root/target/release/examples/ext4_write_bench"

# Inputs: the same host files for both writers.
mkdir -p "$work/in"
for i in $(seq 0 999); do
    head -c $((100 + i * 37 % 8000)) /dev/urandom >"$work/in/s$i"
done
head -c $((100 << 20)) /dev/urandom >"$work/in/big"

truncate -s 1G "$work/fresh.img"
mke2fs -q -F -t ext4 -b "$bs" -O metadata_csum,64bit "$work/fresh.img"

{
    echo "mkdir /bench/small"
    for i in $(seq 0 999); do echo "put /bench/small/f$i $work/in/s$i"; done
    echo "put /bench/big $work/in/big"
} >"$work/ours.txt"
{
    echo "mkdir /bench"
    echo "mkdir /bench/small"
    for i in $(seq 0 999); do echo "write $work/in/s$i /bench/small/f$i"; done
    echo "write $work/in/big /bench/big"
} >"$work/debugfs.txt"

# Wall time of one run on a fresh copy (page cache; the final sync is not timed,
# both writers leave the same ~100 MiB dirty).
timed() {
    cp --sparse=always "$work/fresh.img" "$work/$1.img"
    sync
    local t0 t1
    t0=$(date +%s.%N)
    if [ "$1" = ours ]; then
        "$bin" "$work/ours.img" "$work/ours.txt"
    else
        debugfs -w -f "$work/debugfs.txt" "$work/debugfs.img" >/dev/null 2>&1
    fi
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

# Best of three, alternating, to damp noise from other jobs on the machine.
best() { sort -g | head -1; }
ours=$(for _ in 1 2 3; do timed ours; timed debugfs >>"$work/theirs"; done | best)
theirs=$(best <"$work/theirs")

e2fsck -fn "$work/ours.img" >/dev/null 2>&1 || { echo "e2fsck failed on our image" >&2; exit 1; }
e2fsck -fn "$work/debugfs.img" >/dev/null 2>&1 || { echo "e2fsck failed on the debugfs image" >&2; exit 1; }
cmp <(debugfs -R "cat /bench/big" "$work/ours.img" 2>/dev/null) "$work/in/big"
cmp <(debugfs -R "cat /bench/small/f999" "$work/ours.img" 2>/dev/null) "$work/in/s999"

printf 'block size %s: Ext4Writer %.2f s, debugfs -w %.2f s, ratio (debugfs / ours) %.2f\n' \
    "$bs" "$ours" "$theirs" "$(echo "$theirs / $ours" | bc -l)"
