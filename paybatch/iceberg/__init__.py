"""Apache Iceberg, the project's way: a Glue catalog whose commits never claim a failure they cannot know,
one ``replace_rows`` that owns its retries, and fault injection into pyiceberg's own I/O."""
