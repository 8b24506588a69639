"""Verification: real probes, crafted packets, the firewall's log as a second witness, saved runs,
provenance.
"""
