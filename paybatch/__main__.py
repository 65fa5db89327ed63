"""`python -m paybatch` is the `paybatch` command."""

from paybatch.cli.app import main

main()
