"""Tollgate auth service."""
