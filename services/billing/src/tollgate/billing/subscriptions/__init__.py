"""Subscriptions: the current plan of every account, kept in step with Stripe."""
