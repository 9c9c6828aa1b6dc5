"""Customers: following auth's user events, and Stripe customers for them."""
