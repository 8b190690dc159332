"""Callback data, one module per concern: short versioned prefixes, ids only (64 bytes max)."""
