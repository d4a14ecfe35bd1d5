"""`python -m mpq.image` is the `mpq-image` command."""

from mpq.image.cli import main

main()
