"""Server-sent events are read the same however the network cuts the bytes."""

from __future__ import annotations

import asyncio
from unittest import mock

import aiohttp
import pytest

from tollgate.llm_proxy.upstream.sse import IdleStream, sse_events

STREAM = (
    b": keep-alive comment\r\n\r\n"
    b'data: {"n": 1}\r\n\r\n'
    b"event: message_delta\n"
    b'data: {"n": 2}\n'
    b'data: {"more": true}\n\n'
    b"data: [DONE]"  # the last event ends with the body, unterminated
)


async def events_of(pieces: list[bytes], idle: float = 5.0) -> list[tuple[str | None, bytes]]:
    reader = aiohttp.StreamReader(mock.Mock(), limit=2**16, loop=asyncio.get_running_loop())
    for piece in pieces:
        reader.feed_data(piece)
    reader.feed_eof()
    return [event async for event in sse_events(reader, idle)]


EXPECTED = [
    (None, b'{"n": 1}'),
    ("message_delta", b'{"n": 2}\n{"more": true}'),
    (None, b"[DONE]"),
]


async def test_a_stream_in_one_read_yields_each_event() -> None:
    assert await events_of([STREAM]) == EXPECTED


async def test_events_cut_anywhere_across_reads_come_out_whole() -> None:
    for cut in range(1, len(STREAM)):
        assert await events_of([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


async def test_byte_by_byte_delivery_gives_the_same_events() -> None:
    assert await events_of([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


async def test_an_upstream_that_goes_quiet_is_an_idle_stream() -> None:
    reader = aiohttp.StreamReader(mock.Mock(), limit=2**16, loop=asyncio.get_running_loop())
    reader.feed_data(b'data: {"n": 1}\n\n')
    events = sse_events(reader, 0.05)
    assert await anext(events) == (None, b'{"n": 1}')
    with pytest.raises(IdleStream):
        await anext(events)
