"""Counting tokens, holding them at usage, and what a call finally cost."""
