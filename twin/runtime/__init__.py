"""Runtimes: one small interface (`base`), one module per implementation, an explicit registry."""
