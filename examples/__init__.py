"""Runnable example bots (see docs/bots.md); each runs with `arena bot run FILE:CLASS`."""
