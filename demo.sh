#!/usr/bin/env bash
# The offline demo: sets up .venv, runs the image demo end to end (a real pretrained classifier on
# real photos through four codecs), builds its report, and prints where everything is.
set -euo pipefail
cd "$(dirname "$0")"

python3 -m venv .venv
.venv/bin/python -m pip install -q -c constraints.txt -e packages/mpq-core \
  -e 'packages/mpq-image[demo,offline-deep]' -e packages/mpq-report
rm -rf runs/demo-image
.venv/bin/mpq-image run --preset demo
.venv/bin/mpq show runs/demo-image
echo "Run directory: runs/demo-image; report: runs/demo-image/report/report.html (and summary.md,"
echo "paper.tex, figures/, tables/)"
