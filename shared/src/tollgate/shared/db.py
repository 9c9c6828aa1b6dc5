"""Async SQLAlchemy on asyncpg: engine, sessions, naming convention, Alembic helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event, exc, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tollgate.shared.openapi import raises

__all__ = [
    "NAMING_CONVENTION",
    "SessionDep",
    "create_engine",
    "create_sessionmaker",
    "get_session",
    "new_metadata",
    "ping",
    "run_alembic_upgrade",
    "run_migrations_online",
]

# Stable constraint names, so Alembic migrations can drop and alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the naming convention; each service builds its Base on its own."""
    return MetaData(naming_convention=NAMING_CONVENTION)


# A pooled connection idle longer than this is pinged before it is lent out.
PING_AFTER_IDLE_SECONDS = 10.0


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, echo=echo)
    event.listen(engine.sync_engine.pool, "checkin", _stamp_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _lend_only_live)
    return engine


def _stamp_checkin(dbapi_connection: Any, record: Any) -> None:
    if dbapi_connection is not None:  # None: it was invalidated on the way back
        record.info["checked_in"] = time.monotonic()


def _lend_only_live(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A connection the server closed (a restart, a terminated backend, an idle timeout)
    is replaced before anyone uses it; raising DisconnectionError makes the pool connect
    afresh. SQLAlchemy's ``pool_pre_ping`` asks the server on every checkout instead:
    BEGIN, an empty statement, ROLLBACK: three round trips a checkout (``bench/db``).
    The driver already knows a closed socket without asking; only a connection idle long
    enough for a silent drop (a network or failover that sent no close) is pinged."""
    if record.driver_connection.is_closed():
        raise exc.DisconnectionError("the database closed this connection")
    checked_in = record.info.get("checked_in")
    if checked_in is None or time.monotonic() - checked_in < PING_AFTER_IDLE_SECONDS:
        return  # new, or lent out moments ago
    try:
        dbapi_connection.ping()
    except Exception as error:
        raise exc.DisconnectionError("the database did not answer a ping") from error


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@raises(503)
async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back if it raises.

    Used with ``scope="function"`` so the commit happens before the response is
    sent: a caller never sees 200 for a change that failed to commit.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def run_migrations_online(target_metadata: MetaData, url: str) -> None:
    """Body of a service's ``migrations/env.py``: run pending migrations on an async engine."""
    from alembic import context

    def do_run(connection: object) -> None:
        context.configure(
            connection=connection,  # type: ignore[arg-type]
            target_metadata=target_metadata,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())


def run_alembic_upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
    """Upgrade a service's database; ``service_dir`` holds its ``alembic.ini``."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)
