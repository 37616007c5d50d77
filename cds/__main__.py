"""`python -m cds`: the `cds` command."""

from cds.cli import main

if __name__ == "__main__":
    main()
