"""After a runtime made the nodes: configuration, responders, health, host limits, teardown."""
