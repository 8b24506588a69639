"""The policy file: its model, how it is read (YAML with a line map), how its errors are worded,
the cross-reference checks, and load().
"""
