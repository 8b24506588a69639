"""The lab directory (every file name in one place), its state file, and the registry of labs that
are up.
"""
