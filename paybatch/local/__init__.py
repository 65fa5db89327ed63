"""The local stand-in for AWS: endpoint process, provisioning, Lambda poller and scheduler."""
