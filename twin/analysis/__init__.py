"""Exact analysis of a policy without a lab: interval sets, flow space, rule checks, diff, reach,
blast radius. Depends only on plan and policy.
"""
