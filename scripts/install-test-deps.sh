#!/usr/bin/env bash
# Installs the Debian packages the tests need when missing: the libiscsi client tools
# (iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-test-cu), qemu-img and QEMU's
# iSCSI block driver, protoc (to check that messages/ matches proto/), and
# systemd-analyze (to check the packaged unit, scripts/systemd/atgtd.service), and tgt
# (the peer target of atgtbench's paper-mode smoke test).
set -euo pipefail
INSTALL_NAME=install-test-deps exec "$(dirname "$0")/install-packages.sh" \
	libiscsi-bin qemu-utils qemu-block-extra protobuf-compiler systemd tgt
