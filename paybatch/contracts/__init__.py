"""Contracts shared by the Lambda, the Glue jobs and the CLI: events, tracking records, manifests."""
