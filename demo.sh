#!/usr/bin/env bash
# The offline demo: sets up .venv, runs a sweep end to end and prints its aggregates.
set -euo pipefail
cd "$(dirname "$0")"

python3 -m venv .venv
.venv/bin/python -m pip install -q -c constraints.txt -e packages/mpq-core
rm -rf runs/demo
.venv/bin/mpq run \
  --task python:mpq.core.testing:SyntheticTask --option items=200 --option model_ms=20 \
  --codec python:mpq.core.testing:SyntheticCodec:quality=1,5,20,60 \
  --codec python:mpq.core.testing:SyntheticCodec:bpp=2.0 \
  --metric python:mpq.core.testing:MeanAbsoluteError \
  --workers 2 --batch-size 16 --cache-dir .mpq-cache --out runs/demo
.venv/bin/mpq show runs/demo
echo "Run directory: runs/demo (manifest.json, results/*.parquet)"
