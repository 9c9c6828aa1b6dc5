"""Calling providers: their wire protocols, pooled connections, failover and cool-downs."""
