"""Everything derived from a validated policy (addresses, nodes, links, chains, verdicts) and the
flows to probe. Pure.
"""
