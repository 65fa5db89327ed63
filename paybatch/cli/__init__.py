"""The `paybatch` command line (typer + rich)."""
