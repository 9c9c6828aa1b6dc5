"""Promotion codes: admins create them, people redeem them for a ``promotion`` grant."""
