"""Speculative Arena: the tournament server (protocol, matches, storage, CLI)."""

__version__ = "0.1.0"
