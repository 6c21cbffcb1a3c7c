"""uploads signal."""
