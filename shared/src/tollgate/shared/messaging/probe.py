"""DeliveryProbe: reads the outbox backlog and dead-letter depths into gauges, periodically.

An operator's alerts ask "has anything waited for minutes?", so a reading every
``interval`` seconds is enough, and costs one indexed statement and one passive queue
declaration per watched queue, off the request path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aio_pika.abc import AbstractChannel

from tollgate.shared.messaging.broker import Broker
from tollgate.shared.messaging.metrics import DEAD_LETTERS
from tollgate.shared.messaging.relay import OutboxRelay
from tollgate.shared.periodic import Periodic

__all__ = ["DeliveryProbe"]

log = logging.getLogger("tollgate.messaging.probe")


class DeliveryProbe:
    def __init__(
        self,
        relay: OutboxRelay,
        broker: Broker,
        queues: Sequence[str],
        *,
        interval: float = 15.0,
    ) -> None:
        self.relay = relay
        self.broker = broker
        self.queues = list(dict.fromkeys(queues))
        self.interval = interval
        self._channel: AbstractChannel | None = None
        self._periodic = Periodic(
            "delivery-probe", self.probe_once, interval, on_error=self._probe_failed
        )

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def probe_once(self) -> None:
        await self.relay.backlog()
        if not self.queues or not self.broker.is_connected:
            return
        if self._channel is None or self._channel.is_closed:
            self._channel = await self.broker.connection.channel()
        for queue in self.queues:
            # Declared as the consumer declares it (durable, no arguments), which is a
            # no-op that reports the depth. A passive declaration would close the
            # channel whenever the queue does not exist yet (at start, before the
            # consumer), and robust channels are then restored in the background.
            dlq = await self._channel.declare_queue(f"{queue}.dlq", durable=True)
            DEAD_LETTERS.labels(queue).set(dlq.declaration_result.message_count or 0)

    def _probe_failed(self, exc: Exception) -> None:
        # A queue not declared yet or a broker outage: the next reading tries again.
        log.debug("delivery probe failed: %r", exc)
        self._channel = None
