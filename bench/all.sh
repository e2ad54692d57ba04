#!/usr/bin/env bash
# Everything `make bench` runs, each result written into docs/benchmarks.md between its
# markers: quick mode against wrk and oha, memory at 10,000 VUs, open-model accuracy, the
# fault proxy against noxious, the in-process proxy path, and validation staying linear.
# Installs what it needs (lib.sh; proxy.sh builds noxious into bench/.tools).
# Usage: bench/all.sh   (after a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
docs=docs/benchmarks.md
bench/throughput.sh "$out/throughput.md"
bench/update_docs.py "$docs" throughput "$out/throughput.md"
bench/memory.sh "$out/memory.md"
bench/update_docs.py "$docs" memory "$out/memory.md"
bench/accuracy.sh "$out/accuracy.md"
bench/update_docs.py "$docs" accuracy "$out/accuracy.md"
bench/proxy.sh "$out/proxy.md"
bench/update_docs.py "$docs" proxy "$out/proxy.md"
bench/run.sh
bench/validate.sh
echo "results written to $docs"
