"""Running Glue jobs: argument parsing for entry scripts and the launcher seam (Glue or local)."""
