"""Conversion of NDJSON (and Parquet) files to partitioned Parquet, with rejects and accounting."""
