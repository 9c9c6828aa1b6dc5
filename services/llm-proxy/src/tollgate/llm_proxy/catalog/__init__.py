"""Providers, models and their deployments: what the proxy can call and at what price."""
