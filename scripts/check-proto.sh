#!/usr/bin/env bash
# Checks the protobuf definitions: `buf lint` is clean, and the Go code in
# messages/atgtv1 is exactly what `go generate ./messages` produces from proto/.
# Installs pinned buf and protoc-gen-go with `go install` when missing (protoc itself
# comes from Debian's protobuf-compiler, see install-test-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUF_VERSION=v1.50.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION=v1.19.1
gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"

if ! command -v buf >/dev/null 2>&1; then
	echo "check-proto: installing buf $BUF_VERSION (go install; takes a few minutes the first time)"
	(cd /tmp && go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION")
fi
if ! command -v protoc-gen-go >/dev/null 2>&1 || ! protoc-gen-go --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_VERSION}"; then
	(cd /tmp && go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION")
fi
if ! command -v protoc-gen-connect-go >/dev/null 2>&1 || ! protoc-gen-connect-go --version 2>/dev/null | grep -q "${PROTOC_GEN_CONNECT_GO_VERSION#v}"; then
	(cd /tmp && go install "connectrpc.com/connect/cmd/protoc-gen-connect-go@$PROTOC_GEN_CONNECT_GO_VERSION")
fi
command -v protoc >/dev/null 2>&1 || { echo "check-proto: protoc missing: install protobuf-compiler (scripts/install-test-deps.sh)" >&2; exit 1; }

buf lint
echo "check-proto: buf lint clean"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/messages"
(cd messages && protoc -I ../proto --go_out="$tmp/messages" --go_opt=module=github.com/atgt/atgt/messages \
	--connect-go_out="$tmp/messages" --connect-go_opt=module=github.com/atgt/atgt/messages \
	atgt/v1/config.proto atgt/v1/task.proto atgt/v1/trace.proto atgt/v1/admin.proto atgt/v1/faults.proto)
for f in messages/atgtv1/*.pb.go messages/atgtv1/atgtv1connect/*.go; do
	if ! cmp -s "$f" "$tmp/$f"; then
		echo "check-proto: $f is stale: run 'make generate' (go generate ./messages) and commit" >&2
		diff -u "$f" "$tmp/$f" | head -40 >&2
		exit 1
	fi
done
echo "check-proto: messages/atgtv1 matches proto/"
