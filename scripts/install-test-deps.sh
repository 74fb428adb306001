#!/usr/bin/env bash
# Installs the Debian packages the tests need when missing: the libiscsi client tools
# (iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-test-cu), qemu-img and QEMU's
# iSCSI block driver, protoc (to check that messages/ matches proto/), and
# systemd-analyze (to check the packaged unit, scripts/systemd/atgtd.service), and tgt
# (the peer target of atgtbench's paper-mode smoke test).
# The kernel-initiator tests (tests/guest) boot a Debian kernel under QEMU TCG:
# qemu-system-x86 runs it, socat carries each of the guest's TCP connections to
# atgtd (QEMU's guestfwd cmd:), cpio and kmod (depmod, modprobe) build the guest's
# initramfs in scripts/build-test-guest.sh, which downloads the guest's own
# packages (kernel, busybox-static, open-iscsi) with apt-get download.
# The RBD backend's tests need Ceph (a one-node cluster, librbd): install-ceph.sh.
set -euo pipefail
"$(dirname "$0")/install-ceph.sh"
INSTALL_NAME=install-test-deps exec "$(dirname "$0")/install-packages.sh" \
	libiscsi-bin qemu-utils qemu-block-extra protobuf-compiler systemd tgt \
	qemu-system-x86 socat cpio kmod e2fsprogs util-linux iproute2 libssl3 libkmod2 libsystemd0
