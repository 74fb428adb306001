#!/usr/bin/env bash
# Installs the Debian packages cmd/atgtbench needs: tgt (the peer target, tgtd and
# tgtadm), the libiscsi client tools (iscsi-perf), qemu-img and QEMU's iSCSI block
# driver (qemu-img bench over iscsi:// URLs). iperf3 is optional and not installed
# here. Idempotent: does nothing when all are installed, and runs `apt-get update`
# once, only when something is missing. Needs root or sudo.
set -euo pipefail

packages=(tgt libiscsi-bin qemu-utils qemu-block-extra)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-bench-deps: all present (${packages[*]})"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "install-bench-deps: missing ${missing[*]}; run as root or install sudo" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-bench-deps: missing ${missing[*]} and no apt-get to install them" >&2
	exit 1
fi

echo "install-bench-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
# The tgt package starts a tgt service listening on port 3260 (atgtd's default) where
# an init system runs; the benchmark runs its own tgtd, so keep services from starting
# during this install (policy-rc.d, removed again however the install ends).
if [ ! -e /usr/sbin/policy-rc.d ]; then
	trap '"${as_root[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
	printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
	"${as_root[@]}" chmod +x /usr/sbin/policy-rc.d
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
