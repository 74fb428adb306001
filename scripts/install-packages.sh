#!/usr/bin/env bash
# Installs the given Debian packages when any is missing: idempotent, runs
# `apt-get update` once and only when something is missing, needs root or sudo.
# Services a package would start (tgt's on port 3260, atgtd's default) are kept from
# starting during the install with a policy-rc.d, removed again however it ends.
# Used by install-test-deps.sh and install-bench-deps.sh.
set -euo pipefail
name=${INSTALL_NAME:-install-packages}
packages=("$@")

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "$name: all present (${packages[*]})"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "$name: missing ${missing[*]}; run as root or install sudo" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "$name: missing ${missing[*]} and no apt-get to install them" >&2
	exit 1
fi

echo "$name: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
if [ ! -e /usr/sbin/policy-rc.d ]; then
	trap '"${as_root[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
	printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
	"${as_root[@]}" chmod +x /usr/sbin/policy-rc.d
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
