"""usage signal."""
