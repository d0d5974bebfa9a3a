#!/usr/bin/env bash
# The boot test's local package repository: the .debs that a base image lacks for some
# packages (docker.io, docker-cli), as a flat apt repository. make-base.sh calls it.
#
#   pkg-repo.sh fetch ROOT OUTDIR PKG...
#       Into OUTDIR (made if missing), every .deb that `apt-get install --no-install-recommends
#       PKG...` inside the chroot ROOT would install: the packages and the dependencies ROOT
#       does not have yet, nothing else. ROOT needs its apt lists, /proc and a resolv.conf
#       (an mmdebstrap customize hook has them); run as root. .debs already in ROOT's
#       /var/cache/apt/archives with the right name are reused, the rest are downloaded there.
#       Then indexes OUTDIR as below.
#   pkg-repo.sh index DIR
#       DIR/Packages and DIR/Packages.gz for DIR/*.deb (apt-ftparchive), so that DIR served
#       over HTTP is the source `deb [trusted=yes] http://HOST/ ./`. No Release file: a
#       guest whose clock is behind would reject one as "not valid yet".
#
# OUTDIR holds only *.deb plus the two index files, so it also serves as a directory of
# .debs to install offline (clem-image's `docker_debs` ignores files that are not .debs).
set -euo pipefail
export LC_ALL=C

die() { echo "pkg-repo: $*" >&2; exit 1; }

index() {
    local dir=$1
    command -v apt-ftparchive >/dev/null || die "missing tool: apt-ftparchive (apt-utils; run .ci/boot-deps)"
    compgen -G "$dir/*.deb" >/dev/null || die "no .deb files in $dir"
    (cd "$dir" && apt-ftparchive packages . >Packages.tmp && mv Packages.tmp Packages &&
        gzip -9 -n -c Packages >Packages.gz)
}

fetch() {
    local root=$1 out=$2
    shift 2
    [ $# -gt 0 ] || die "fetch: no packages named"
    [ -x "$root/usr/bin/apt-get" ] || die "fetch: $root has no apt-get"
    local empty=/var/cache/apt/pkg-repo-empty
    local apt=(chroot "$root" apt-get -q -o Dpkg::Use-Pty=0 --no-install-recommends)
    # The exact file set: apt prints what it would download into an empty archive dir.
    mkdir -p "$root$empty/partial"
    local names
    names=$("${apt[@]}" -qq --print-uris -o "Dir::Cache::Archives=$empty/" install -- "$@" |
        awk '{ print $2 }')
    rm -rf "${root:?}$empty"
    [ -n "$names" ] || die "fetch: $root already has $* and all it depends on"
    # Download into the ordinary archive dir, where a warm cache may already have them.
    "${apt[@]}" -y --download-only install -- "$@" >&2
    mkdir -p "$out"
    rm -f "$out"/*.deb "$out"/Packages "$out"/Packages.gz
    local n f
    for n in $names; do
        f=$root/var/cache/apt/archives/$n
        [ -s "$f" ] || die "fetch: apt did not leave $n in $root/var/cache/apt/archives"
        # An epoch is stored as %3a in the name; served over HTTP that would be decoded.
        cp "$f" "$out/${n//%3a/_}"
    done
    index "$out"
    echo "pkg-repo: $(echo "$names" | wc -l) .debs, $(du -sh "$out" | cut -f1), in $out" >&2
}

mode=${1:-}
shift || true
case "$mode" in
    fetch) [ $# -ge 3 ] || die "usage: pkg-repo.sh fetch ROOT OUTDIR PKG..."; fetch "$@" ;;
    index) [ $# -eq 1 ] || die "usage: pkg-repo.sh index DIR"; index "$1" ;;
    *) die "usage: pkg-repo.sh fetch ROOT OUTDIR PKG... | index DIR" ;;
esac
