"""Operating the pipeline: deploy, monitor, diagnose, report, cost and scale tests (behind `paybatch` and the scripts)."""
