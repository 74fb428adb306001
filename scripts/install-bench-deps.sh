#!/usr/bin/env bash
# Installs the Debian packages cmd/atgtbench needs when missing: tgt (the peer target,
# tgtd and tgtadm), the libiscsi client tools (iscsi-perf), qemu-img and QEMU's iSCSI
# block driver, and iperf3 for the loopback reference figure; for `atgtbench paper
# -macro`: qemu-storage-daemon (qemu-system-common) and FUSE to attach a LUN to the
# kernel, e2fsprogs and util-linux (mke2fs, losetup, mount), and postmark; for
# `atgtbench -rbd`: tgt-rbd (tgt's RBD backing store) and Ceph (install-ceph.sh).
set -euo pipefail
"$(dirname "$0")/install-ceph.sh"
INSTALL_NAME=install-bench-deps exec "$(dirname "$0")/install-packages.sh" \
	tgt libiscsi-bin qemu-utils qemu-block-extra iperf3 \
	qemu-system-common fuse3 e2fsprogs util-linux mount postmark tgt-rbd
