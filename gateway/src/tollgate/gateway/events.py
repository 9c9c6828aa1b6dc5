"""The gateway's event consumer: revocations, plan changes and plan edits into Redis.

The gateway has no database, so the shared ``Consumer`` (inbox in PostgreSQL) does
not fit. Every effect here is idempotent by nature (SET of a flag, keep-the-max of a
timestamp, keep-the-highest sequence), so redelivery is harmless. A message is acked
only after its Redis write succeeded; when Redis is away the message goes back to the
queue after a pause. A message that cannot be parsed is dead-lettered to
``<queue>.dlq`` for an operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from pydantic import ValidationError
from redis.exceptions import RedisError

from tollgate.gateway.apikeys import ApiKeyCache
from tollgate.gateway.revocations import PlanLimitStore, RevocationStore
from tollgate.shared.messaging.broker import EXCHANGE, Broker
from tollgate.shared.messaging.events import (
    ApiKeyRevoked,
    ApiKeyScopesChanged,
    Envelope,
    PlanUpdated,
    SessionsRevoked,
    SubscriptionChanged,
)
from tollgate.shared.scopes import canonical_scopes

__all__ = ["EVENT_TYPES", "EventConsumer", "queue_name"]

log = logging.getLogger("tollgate.gateway.events")

EVENT_TYPES = (
    "auth.sessions_revoked",
    "apikey.revoked",
    "apikey.scopes_changed",
    "subscription.changed",
    "plan.updated",
)


def queue_name(event_type: str) -> str:
    return f"gateway.{event_type}"


class EventConsumer:
    def __init__(
        self,
        broker: Broker,
        revocations: RevocationStore,
        plans: PlanLimitStore,
        api_keys: ApiKeyCache,
        *,
        redelivery_pause: float = 1.0,
    ) -> None:
        self.broker = broker
        self.revocations = revocations
        self.plans = plans
        self.api_keys = api_keys
        self.redelivery_pause = redelivery_pause
        self._channel: AbstractChannel | None = None

    async def start(self) -> None:
        channel = await self.broker.connection.channel()
        await channel.set_qos(prefetch_count=64)
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for event_type in EVENT_TYPES:
            name = queue_name(event_type)
            await channel.declare_queue(f"{name}.dlq", durable=True)
            queue = await channel.declare_queue(
                name,
                durable=True,
                arguments={
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": f"{name}.dlq",
                },
            )
            await queue.bind(exchange, routing_key=event_type)
            await queue.consume(self._on_message)
        self._channel = channel

    async def stop(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        self._channel = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.model_validate_json(message.body)
            apply = self._handler(envelope)
            if apply is None:
                log.warning("ignoring unexpected event type %s", envelope.type)
                await message.ack()
                return
            await apply()
        except (ValidationError, ValueError) as exc:
            log.error("parking unreadable event %s: %s", message.message_id, exc)
            await message.reject(requeue=False)
            return
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not apply event %s (%s); will retry", message.message_id, exc)
            await asyncio.sleep(self.redelivery_pause)
            await message.nack(requeue=True)
            return
        await message.ack()

    def _handler(self, envelope: Envelope) -> Callable[[], Awaitable[None]] | None:
        data = envelope.parsed()
        if isinstance(data, SessionsRevoked):

            async def revoke_sessions() -> None:
                await self.revocations.revoke_sessions(
                    str(data.user_id),
                    str(data.session_id) if data.session_id else None,
                    data.not_before.timestamp(),
                )
                log.info("sessions of user %s revoked (session %s)", data.user_id, data.session_id)

            return revoke_sessions
        if isinstance(data, ApiKeyRevoked):

            async def revoke_key() -> None:
                self.api_keys.evict_key_id(str(data.key_id))
                await self.revocations.revoke_api_key(str(data.key_id))
                log.info("API key %s revoked", data.key_id)

            return revoke_key
        if isinstance(data, ApiKeyScopesChanged):

            async def rescope_key() -> None:
                self.api_keys.evict_key_id(str(data.key_id))
                applied = await self.revocations.change_api_key_scopes(
                    str(data.key_id),
                    canonical_scopes(data.scopes),
                    int(data.changed_at.timestamp() * 1000),
                )
                log.info(
                    "API key %s re-scoped to %s%s",
                    data.key_id,
                    data.scopes,
                    "" if applied else " (older than the stored change, skipped)",
                )

            return rescope_key
        if isinstance(data, SubscriptionChanged):

            async def change_plan() -> None:
                applied = await self.plans.apply(
                    str(data.account_id), data.plan, data.limits, data.sequence
                )
                log.info(
                    "account %s plan %s (sequence %d) %s",
                    data.account_id,
                    data.plan,
                    data.sequence,
                    "applied" if applied else "older than the stored one, skipped",
                )

            return change_plan
        if isinstance(data, PlanUpdated):

            async def edit_plan() -> None:
                applied = await self.plans.apply_plan(data.code, data.limits, data.version)
                log.info(
                    "plan %s (version %d) %s",
                    data.code,
                    data.version,
                    "applied" if applied else "older than the stored one, skipped",
                )

            return edit_plan
        return None
