#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests in tests/ need: the libiscsi client
# tools (iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-test-cu), qemu-img and QEMU's
# iSCSI block driver, and protoc (to check that messages/ matches proto/). Idempotent: does nothing when all are installed, and runs
# `apt-get update` once, only when something is missing. Needs root or sudo.
set -euo pipefail

packages=(libiscsi-bin qemu-utils qemu-block-extra protobuf-compiler)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-test-deps: all present (${packages[*]})"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "install-test-deps: missing ${missing[*]}; run as root or install sudo" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: missing ${missing[*]} and no apt-get to install them" >&2
	exit 1
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
