"""twin: a digital twin of a zero-trust, microsegmented network, verified with real packets."""

__version__ = "0.1.0"
