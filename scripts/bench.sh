#!/usr/bin/env bash
# Every benchmark, each printing its figures and its ratio against a baseline measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for bench in bench/*_bench.py; do
  echo "== $bench"
  .venv/bin/python "$bench" || status=1
done
exit $status
