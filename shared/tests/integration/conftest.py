"""Real PostgreSQL (database shared_test) and RabbitMQ (vhost tollgate_test_shared)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tollgate.shared.db import create_engine, create_sessionmaker, new_metadata
from tollgate.shared.messaging import Broker, messaging_tables
from tollgate.shared.messaging.outbox import MessagingTables
from tollgate.shared.testing import reset_database, test_amqp_url, test_database_url

DATABASE_URL = test_database_url("shared")
AMQP_URL = test_amqp_url("shared")

metadata: MetaData = new_metadata()
tables: MessagingTables = messaging_tables(metadata)
# What a consumer's handler changes: one row per applied event.
effects = Table("effects", metadata, Column("event_id", String(64), primary_key=True))


@pytest.fixture(scope="session")
async def engine() -> AsyncIterator[AsyncEngine]:
    await reset_database(DATABASE_URL)
    engine = create_engine(DATABASE_URL)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    async with engine.begin() as conn:
        for table in (tables.outbox, tables.inbox, effects):
            await conn.execute(table.delete())
    return create_sessionmaker(engine)


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    broker = Broker(AMQP_URL, publish_timeout=2.0)
    await broker.connect()
    yield broker
    await broker.close()


@pytest.fixture
def queue_name() -> str:
    return f"test.{uuid.uuid4().hex[:8]}"


class CuttableProxy:
    """A TCP hop in front of RabbitMQ that a test can cut, to take the broker away."""

    def __init__(self, target_port: int = 5672) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start(self.port)


@pytest.fixture
async def proxy() -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy()
    await proxy.start()
    yield proxy
    await proxy.cut()
