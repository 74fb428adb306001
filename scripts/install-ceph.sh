#!/usr/bin/env bash
# Installs the Debian packages the RBD backend and its one-node test cluster need when
# missing: ceph-mon and ceph-osd (the cluster scripts/ceph-up.sh starts), ceph-common
# (the ceph, rbd and ceph-authtool commands), and librbd-dev and librados-dev (the
# headers and libraries go-ceph links against when atgt is built with `-tags ceph`).
# No ceph-mgr: the test cluster runs without one (see scripts/ceph-up.sh).
set -euo pipefail
INSTALL_NAME=install-ceph exec "$(dirname "$0")/install-packages.sh" \
	ceph-mon ceph-osd ceph-common librbd-dev librados-dev
