"""Benchmarks: measured figures, printed with the command that produced them."""
