"""Invoices and payments mirrored from Stripe, refunds, and revenue figures."""
