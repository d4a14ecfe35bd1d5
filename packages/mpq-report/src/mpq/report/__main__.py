"""`python -m mpq.report` is the `mpq-report` command."""

from mpq.report.cli import main

main()
