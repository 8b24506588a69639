"""A twin policy → vendor configuration text (PAN-OS, FortiGate)."""
