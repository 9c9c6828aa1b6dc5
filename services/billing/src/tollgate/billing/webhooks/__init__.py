"""Stripe webhooks: verified, recorded once, applied in any order."""
