#!/usr/bin/env bash
# Re-records tests/cloudinit/verdicts.json: cloud-init 25.1.4's own verdict on every file of
# tests/cloudinit/corpus/ (oracle.py). Fetches Debian's cloud-init package pinned in
# schemas/cloud-init/refresh.sh (version and digest read from there, so the schema and the
# verdicts come from one package), checks its digest, unpacks it and runs oracle.py with
# Debian's python3 and that cloud-init on PYTHONPATH. Needs dpkg-deb, curl and cloud-init's
# Python dependencies (on Debian: apt-get install cloud-init python3-jsonschema).
#
#   tests/cloudinit/record.sh                      # fetch, check, record
#   CLOUD_INIT_DIR=/path/to/unpacked tests/cloudinit/record.sh   # an unpacked .deb
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
refresh=$here/../../schemas/cloud-init/refresh.sh
version=$(sed -n 's/^VERSION=//p' "$refresh")
# shellcheck disable=SC2016  # the pattern matches a literal ${...}
deb_sha256=$(sed -n 's/^DEB_SHA256=\${DEB_SHA256:-\([0-9a-f]*\)}$/\1/p' "$refresh")
mirror=${MIRROR:-http://deb.debian.org/debian}
if [[ -z $version || ${#deb_sha256} -ne 64 ]]; then
    echo "record.sh: cannot read the pin from $refresh" >&2
    exit 1
fi

dir=${CLOUD_INIT_DIR:-}
if [[ -z $dir ]]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    deb="cloud-init_${version}_all.deb"
    curl -fsSL -o "$work/$deb" "$mirror/pool/main/c/cloud-init/${deb//+/%2B}"
    echo "$deb_sha256  $work/$deb" | sha256sum -c --quiet
    dpkg-deb -x "$work/$deb" "$work/root"
    dir=$work/root
fi

PYTHONPATH=$dir/usr/lib/python3/dist-packages /usr/bin/python3 "$here/oracle.py"
