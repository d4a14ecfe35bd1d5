#!/usr/bin/env bash
# The offline demo: sets up .venv, runs a sweep end to end, prints its aggregates, builds a report.
set -euo pipefail
cd "$(dirname "$0")"

python3 -m venv .venv
.venv/bin/python -m pip install -q -c constraints.txt -e packages/mpq-core -e packages/mpq-report
rm -rf runs/demo runs/demo-report
.venv/bin/mpq run \
  --task python:mpq.core.testing:SyntheticTask --option items=200 --option model_ms=20 \
  --codec python:mpq.core.testing:SyntheticCodec:quality=1,5,20,60 \
  --codec python:mpq.core.testing:SyntheticCodec:bpp=2.0 \
  --metric python:mpq.core.testing:MeanAbsoluteError \
  --workers 2 --batch-size 16 --cache-dir .mpq-cache --out runs/demo
.venv/bin/mpq show runs/demo
.venv/bin/mpq-report build runs/demo --out runs/demo-report
echo "Run directory: runs/demo; report: runs/demo-report/summary.md (figures/, tables/)"
