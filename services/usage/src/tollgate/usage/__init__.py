"""Tollgate usage service."""
