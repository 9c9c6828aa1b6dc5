"""A pooled connection the database has closed is never lent out: the pool connects afresh
before anyone's statement meets it (a restart, a terminated backend, an idle timeout)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.conftest import DATABASE_URL
from tollgate.shared.db import create_engine


async def backend_of(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def test_a_connection_the_database_closed_is_replaced_before_a_statement_meets_it() -> None:
    engine = create_engine(DATABASE_URL, pool_size=1)
    admin = create_engine(DATABASE_URL, pool_size=1)
    try:
        first = await backend_of(engine)
        async with admin.connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        await asyncio.sleep(0.2)  # the server's goodbye reaches this process

        second = await backend_of(engine)  # the pooled connection is dead: not lent out
        assert second != first
        assert await backend_of(engine) == second  # and the fresh one is pooled as usual
    finally:
        await engine.dispose()
        await admin.dispose()
