"""What `mpq-image run --report` and `mpq-audio run --report` call (entry point `build` of the
group `mpq.report_hooks`): the report of one run with the default options."""

from __future__ import annotations

from pathlib import Path

from mpq.report.build import ReportOptions, build


def build_run_report(run_dir: Path, out: Path) -> Path:
    return build([run_dir], out, ReportOptions())
