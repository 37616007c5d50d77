"""`python -m cds`: the `cds` command."""

from cds.cli import main

main()
