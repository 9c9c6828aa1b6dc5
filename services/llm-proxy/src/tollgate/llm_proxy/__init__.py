"""Tollgate LLM proxy service."""
