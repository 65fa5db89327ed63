"""The manifest builder Lambda: track every landed file, quarantine the bad ones, pack the rest into manifests."""
