#!/usr/bin/env bash
# Fetches the cloud-config JSON schema that clem-image validates user cloud-config against,
# from Debian's cloud-init package (the one Raspberry Pi OS trixie installs), and checks it
# against the pinned digests below. Run deliberately, after changing VERSION and the pins.
set -euo pipefail

VERSION=25.1.4-1+deb13u1
DEB_SHA256=${DEB_SHA256:-1b120a44110e7234c9cf9ccde78fb5d5ea1292c94ef0ca70d09a580f72980df3}
SCHEMA=usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json
MIRROR=${MIRROR:-http://deb.debian.org/debian}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

deb="cloud-init_${VERSION}_all.deb"
curl -fsSL -o "$work/$deb" "$MIRROR/pool/main/c/cloud-init/${deb//+/%2B}"
if [[ -n $DEB_SHA256 ]]; then
    echo "$DEB_SHA256  $work/$deb" | sha256sum -c --quiet
fi
dpkg-deb --fsys-tarfile "$work/$deb" | tar -x -C "$work" "./$SCHEMA"
install -m 0644 "$work/$SCHEMA" "$here/schema-cloud-config-v1.json"
upstream=${VERSION%%-*}
printf '%s\n' "$upstream" >"$here/VERSION"
( cd "$here" && sha256sum schema-cloud-config-v1.json VERSION >SHA256SUMS )
echo "schema from cloud-init $VERSION:"
cat "$here/SHA256SUMS"
