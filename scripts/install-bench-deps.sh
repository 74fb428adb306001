#!/usr/bin/env bash
# Installs the Debian packages cmd/atgtbench needs when missing: tgt (the peer target,
# tgtd and tgtadm), the libiscsi client tools (iscsi-perf), qemu-img and QEMU's iSCSI
# block driver, and iperf3 for the loopback reference figure.
set -euo pipefail
INSTALL_NAME=install-bench-deps exec "$(dirname "$0")/install-packages.sh" \
	tgt libiscsi-bin qemu-utils qemu-block-extra iperf3
