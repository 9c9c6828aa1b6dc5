"""Tollgate gateway: the one URL the extension talks to."""
