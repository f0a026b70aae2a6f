#!/usr/bin/env bash
# Install the Debian packages that bindep.txt lists for dpkg platforms, only
# when one of them is missing, so that a second run costs a dpkg query.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# Lines without a selector, dpkg lines and test-profile lines apply here.
mapfile -t wanted < <(awk '!/^#/ && NF {
    if ($0 !~ /\[/ || $0 ~ /platform:dpkg/ || ($0 ~ /[[ ]test[] ]/ && $0 !~ /platform:/)) print $1
}' "$here/bindep.txt")
missing=()
for pkg in "${wanted[@]}"; do
    [ -n "$pkg" ] || continue
    if ! dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
fi
echo "setup: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
