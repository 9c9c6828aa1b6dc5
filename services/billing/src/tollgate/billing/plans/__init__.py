"""The plan catalog: seeded from the shared defaults, then owned by billing."""
