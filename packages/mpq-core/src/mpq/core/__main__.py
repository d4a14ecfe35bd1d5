"""`python -m mpq.core` is the `mpq` command."""

from mpq.core.cli import main

main()
