"""Every proxied call, as it was billed: tokens, cost, latency, status; erased with its user."""
