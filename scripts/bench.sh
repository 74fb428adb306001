#!/usr/bin/env bash
# Runs the atgt vs tgt benchmark (cmd/atgtbench) from the repository root after
# making sure its client tools and tgt are installed. Arguments go to atgtbench, e.g.
#   scripts/bench.sh -quick
#   scripts/bench.sh -ios 20000 -repeats 3 -out bench-out
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-bench-deps.sh
exec go run ./cmd/atgtbench "$@"
