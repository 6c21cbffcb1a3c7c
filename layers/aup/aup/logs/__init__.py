"""logs signal."""
