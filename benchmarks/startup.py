"""How long the command lines take to start, against the interpreter's own start-up.

Times `python -c "import mpq.image.cli"` (and `mpq.audio.cli`, `mpq.report.cli`) against
`python -c pass` in interleaved rounds: each round starts every one of them once. A command line
imports click and its own small modules; numpy, pyarrow, rich, torch and matplotlib load with the
command that uses them. Target: each at most 8x `python -c pass` (median of per-round ratios).
A package that is not installed is skipped with a line saying so.

Run: python benchmarks/startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from interleave import installed, print_times, ratio, rounds, verdict

MODULES = ("mpq.image.cli", "mpq.audio.cli", "mpq.report.cli")
TARGET = 8.0


def starts(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    present = []
    for module in MODULES:
        if not installed(module.rsplit(".", 1)[0]):
            print(f"{module}: skipped, its package is not installed")
        else:
            present.append(module)
    contenders = {"python -c pass": lambda: starts("pass")}
    for module in present:
        contenders[f"import {module}"] = lambda module=module: starts(f"import {module}")
    seconds = rounds(contenders, args.rounds)
    print(f"start-up, {args.rounds} interleaved rounds, median [min-max]:")
    print_times(seconds, unit="ms", scale=1000)
    for module in present:
        ratios = ratio(seconds[f"import {module}"], seconds["python -c pass"])
        print(f"  {module} / python -c pass: {verdict(ratios, TARGET)}")


if __name__ == "__main__":
    main()
