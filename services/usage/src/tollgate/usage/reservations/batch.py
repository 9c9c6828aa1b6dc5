"""Many reservations in one transaction: the same rules as ``service.reserve``, set-wise.

Every account involved is locked (in id order) before its balance is read, so
the group sees every hold committed before it and nobody can add one until it
commits; within the group, requests are sized one after another against the
balance left by the ones before. Refusals (402, 429, ...) are answers for one
request, not failures of the group.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import (
    Conflict,
    Forbidden,
    PaymentRequired,
    TollgateError,
    TooManyRequests,
    UnprocessableEntity,
)
from tollgate.shared.security import Principal
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger.domain import InsufficientTokens, add_month, size_hold
from tollgate.usage.ledger.service import (
    account_limits,
    ensure_current_period,
    grant_plan_allocation,
)
from tollgate.usage.metering.batch_repository import create_accounts
from tollgate.usage.models import Hold
from tollgate.usage.reservations.schemas import ReservationOut, ReservationRequest

__all__ = ["Ask", "reserve_many"]

Answer = ReservationOut | TollgateError


@dataclass(frozen=True)
class Ask:
    caller: Principal
    request: ReservationRequest


@dataclass
class _Target:
    account_id: uuid.UUID
    cap_tokens: int | None
    refusal: TollgateError | None = None


async def reserve_many(session: AsyncSession, settings: Settings, asks: list[Ask]) -> list[Answer]:
    now = datetime.now(UTC)
    targets = await _targets(session, asks)
    wanted = sorted({t.account_id for t in targets if t.refusal is None})
    await _create_missing_users(session, settings, asks, targets, now)
    accounts = await repo.lock_accounts(session, wanted)
    for account in accounts.values():
        await ensure_current_period(session, account, now)
    balance = {a: r - h for a, (r, h) in (await repo.balances(session, wanted, now)).items()}
    existing = await repo.holds_by_request(session, [a.request.request_id for a in asks])
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    daily_pairs = {
        (t.account_id, a.caller.user_id)
        for a, t in zip(asks, targets, strict=True)
        if t.refusal is None and _daily_limit(accounts[t.account_id]) is not None
    }
    made_today = await repo.requests_since_by_member(session, daily_pairs, midnight)
    cap_spent: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for ask, target in zip(asks, targets, strict=True):
        pair = (target.account_id, ask.caller.user_id)
        if target.refusal is None and target.cap_tokens is not None and pair not in cap_spent:
            period_start = accounts[target.account_id].period_start
            cap_spent[pair] = await repo.member_spent(session, *pair, period_start, now)

    answers: list[Answer | None] = [None] * len(asks)
    new_holds: list[dict[str, Any]] = []
    first_in_group: dict[str, int] = {}
    for i, (ask, target) in enumerate(zip(asks, targets, strict=True)):
        request, user_id = ask.request, ask.caller.user_id
        if request.request_id in existing:
            answers[i] = _replay(existing[request.request_id], user_id, balance)
            continue
        if request.request_id in first_in_group:
            continue  # answered below with the hold of its first occurrence
        if target.refusal is not None:
            answers[i] = target.refusal
            continue
        account = accounts[target.account_id]
        if account.deleted_at is not None:
            answers[i] = Forbidden("This account has been deleted")
            continue
        limits = account_limits(account)
        pair = (account.id, user_id)
        daily = _daily_limit(account)
        if daily is not None and made_today.get(pair, 0) >= daily:
            retry_after = int((midnight + timedelta(days=1) - now).total_seconds()) + 1
            answers[i] = TooManyRequests(
                f"Daily request quota of {daily} reached",
                type_slug="daily-quota-exceeded",
                retry_after=retry_after,
                extra={"daily_requests": daily},
            )
            continue
        room = max(0, balance[account.id])
        if target.cap_tokens is not None:
            room = min(room, max(0, target.cap_tokens - cap_spent.get(pair, 0)))
        default_cap = int(
            limits.get("default_completion_tokens") or settings.default_completion_tokens
        )
        try:
            size = size_hold(
                request.prompt_tokens, request.max_completion_tokens, room, default_cap
            )
        except InsufficientTokens as exc:
            answers[i] = PaymentRequired(
                f"Not enough tokens: {exc.available} available",
                extra={"available": exc.available, "account_id": str(account.id)},
            )
            continue
        except ValueError as exc:
            answers[i] = UnprocessableEntity(str(exc))
            continue
        ttl = min(request.ttl_seconds or settings.hold_ttl_seconds, settings.max_hold_ttl_seconds)
        hold_id, expires_at = uuid.uuid4(), now + timedelta(seconds=ttl)
        balance[account.id] -= size.held_tokens
        made_today[pair] = made_today.get(pair, 0) + 1
        if pair in cap_spent:
            cap_spent[pair] += size.held_tokens
        first_in_group[request.request_id] = i
        new_holds.append(
            {
                "id": hold_id,
                "request_id": request.request_id,
                "account_id": account.id,
                "user_id": user_id,
                "model": request.model,
                "amount": size.held_tokens,
                "max_completion_tokens": size.max_completion_tokens,
                "status": "held",
                "created_at": now,
                "expires_at": expires_at,
            }
        )
        answers[i] = ReservationOut(
            reservation_id=hold_id,
            account_id=account.id,
            held_tokens=size.held_tokens,
            max_completion_tokens=size.max_completion_tokens,
            available=room - size.held_tokens,
            expires_at=expires_at,
        )

    inserted = await repo.insert_holds(session, new_holds)
    raced = [h["request_id"] for h in new_holds if h["request_id"] not in inserted]
    if raced:  # another transaction reserved the same request_id meanwhile: answer with its hold
        found = await repo.holds_by_request(session, raced)
        for request_id in raced:
            i = first_in_group[request_id]
            answers[i] = _replay(found[request_id], asks[i].caller.user_id, balance)
    for i, ask in enumerate(asks):
        if answers[i] is None:
            first = answers[first_in_group[ask.request.request_id]]
            same_user = asks[first_in_group[ask.request.request_id]].caller.user_id
            answers[i] = first if same_user == ask.caller.user_id else _conflict()
    result: list[Answer] = []
    for answer in answers:
        assert answer is not None
        result.append(answer)
    return result


def _daily_limit(account: Any) -> int | None:
    value = account_limits(account).get("daily_requests")
    return value if isinstance(value, int) and value > 0 else None


def _conflict() -> Conflict:
    return Conflict("This request_id belongs to another reservation", type_slug="duplicate-request")


def _replay(hold: Hold, user_id: uuid.UUID, balance: dict[uuid.UUID, int]) -> Answer:
    if hold.user_id != user_id:
        return _conflict()
    return ReservationOut(
        reservation_id=hold.id,
        account_id=hold.account_id,
        held_tokens=hold.amount,
        max_completion_tokens=hold.max_completion_tokens,
        available=max(0, balance.get(hold.account_id, 0)),
        expires_at=hold.expires_at,
    )


async def _targets(session: AsyncSession, asks: list[Ask]) -> list[_Target]:
    """Which account each caller spends from (as members.service.resolve_spender decides)."""
    pairs: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for ask in asks:
        user, parent, org = ask.caller.user_id, ask.caller.parent, ask.caller.org
        if parent is not None and parent != user:
            pairs.add((parent, user))
        elif org is not None:
            pairs.add((org, user))
    memberships = await repo.members_of(session, pairs)
    orgs = {a.caller.org for a in asks if a.caller.org is not None and a.caller.parent is None}
    pools = await repo.live_accounts(session, orgs)
    targets = []
    for ask in asks:
        user, parent, org = ask.caller.user_id, ask.caller.parent, ask.caller.org
        if parent is not None and parent != user:
            membership = memberships.get((parent, user))
            if membership is not None and not membership.active:
                targets.append(_Target(parent, None, Forbidden("This sub-user has been disabled")))
            else:
                targets.append(_Target(parent, membership.cap_tokens if membership else None))
            continue
        if org is not None:
            membership = memberships.get((org, user))
            if org in pools and (membership is None or membership.active):
                targets.append(_Target(org, membership.cap_tokens if membership else None))
                continue
        targets.append(_Target(user, None))
    return targets


async def _create_missing_users(
    session: AsyncSession,
    settings: Settings,
    asks: list[Ask],
    targets: list[_Target],
    now: datetime,
) -> None:
    """Accounts of users we have not heard of yet start on the free plan (like one by one)."""
    candidates = sorted(
        {t.account_id for t in targets if t.refusal is None and t.account_id not in _orgs(asks)}
    )
    if not candidates:
        return
    end = add_month(now)
    created = await create_accounts(session, candidates, settings.free_monthly_tokens, now, end)
    for account_id in sorted(created):
        await grant_plan_allocation(
            session, account_id, now, end, settings.free_monthly_tokens, now
        )


def _orgs(asks: list[Ask]) -> set[uuid.UUID]:
    return {a.caller.org for a in asks if a.caller.org is not None}
