"""Library shared by every Tollgate service.

Modules, each importable on its own:

    settings     pydantic-settings base with the variables every service reads
    errors       TollgateError (one base, carrying its HTTP status) and problem+json handlers
    logs         JSON log lines carrying request and trace ids
    db           async SQLAlchemy engine, sessions, naming convention, Alembic helper
    messaging    events, transactional outbox and relay, idempotent consumers, dead letters
    security     JWT verification against a JWKS, FastAPI dependencies for callers
    web          create_service_app(): middleware, health, readiness, metrics, tracing
"""
