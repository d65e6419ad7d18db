"""Peer implementations vendored for benchmarks (each file says where it came from and what was changed)."""
