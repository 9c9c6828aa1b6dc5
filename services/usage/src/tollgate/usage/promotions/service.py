"""Creating, listing and withdrawing codes (admins); redeeming one (anyone who pays)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from tollgate.shared.security import Principal
from tollgate.usage.analytics.schemas import GrantOut
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.members.service import resolve_spender
from tollgate.usage.models import PromotionCode
from tollgate.usage.promotions import repository as repo
from tollgate.usage.promotions.rules import generate_code, normalise_code, refusal
from tollgate.usage.promotions.schemas import (
    PromotionCodeIn,
    PromotionCodeList,
    PromotionCodeOut,
    RedeemIn,
    RedemptionOut,
)

__all__ = ["create_code", "deactivate_code", "list_codes", "redeem"]

GRANT_SOURCE = "promotion"


async def create_code(
    session: AsyncSession, admin: Principal, body: PromotionCodeIn
) -> PromotionCodeOut:
    if body.expires_at <= datetime.now(UTC):
        raise UnprocessableEntity("expires_at must be in the future")
    values = body.model_dump(exclude={"code"}) | {
        "id": uuid.uuid4(),
        "code": body.code or generate_code(),
        "created_by": admin.user_id,
    }
    created = await repo.insert_code(session, values)
    if created is None:
        raise Conflict("A promotion code with this text exists", type_slug="promotion-code-taken")
    return PromotionCodeOut.model_validate(created)


async def list_codes(session: AsyncSession, limit: int) -> PromotionCodeList:
    codes = await repo.list_codes(session, limit)
    return PromotionCodeList(items=[PromotionCodeOut.model_validate(c) for c in codes])


async def deactivate_code(session: AsyncSession, code_id: uuid.UUID) -> PromotionCodeOut:
    code = await repo.deactivate(session, code_id, datetime.now(UTC))
    if code is None:
        raise NotFound("No such promotion code", type_slug="promotion-code-not-found")
    return PromotionCodeOut.model_validate(code)


async def redeem(
    session: AsyncSession, settings: Settings, user: Principal, body: RedeemIn
) -> RedemptionOut:
    """Credit the account that pays for the caller, once per account, within the code's total.

    Locks the paying account, then the code (accounts before codes, everywhere), so
    concurrent redemptions of one code are counted one after another.
    """
    if user.parent is not None and user.parent != user.user_id:
        raise Forbidden(
            "A sub-user cannot redeem codes: its parent account can",
            type_slug="sub-user-cannot-redeem",
        )
    now = datetime.now(UTC)
    spender = await resolve_spender(
        session,
        user.user_id,
        org=user.org,
        parent=None,
        free_tokens=settings.free_monthly_tokens,
        now=now,
    )
    account_id = spender.account.id
    code = await repo.lock_code(session, normalise_code(body.code))
    used = code is not None and await repo.redeemed_by(session, code.id, account_id)
    problem = refusal(code, already_redeemed=used, now=now)
    if problem is not None:
        raise problem
    assert code is not None
    grant = await _grant(session, code, account_id, now)
    await repo.insert_redemption(
        session,
        code_id=code.id,
        account_id=account_id,
        user_id=user.user_id,
        grant_id=grant.id,
        now=now,
    )
    await repo.count_redemption(session, code.id)
    return RedemptionOut(code=code.code, credits=code.credits, account_id=account_id, grant=grant)


async def _grant(
    session: AsyncSession, code: PromotionCode, account_id: uuid.UUID, now: datetime
) -> GrantOut:
    expires_at = now + timedelta(days=code.grant_valid_days) if code.grant_valid_days else None
    reason = f"promotion code {code.code}"
    grant_id = uuid.uuid4()
    await ledger.insert_grant(
        session,
        {
            "id": grant_id,
            "account_id": account_id,
            "source": GRANT_SOURCE,
            "amount": code.credits,
            "priority": 0,
            "starts_at": now,
            "expires_at": expires_at,
            "reason": reason,
        },
        now,
    )
    return GrantOut(
        id=grant_id,
        source=GRANT_SOURCE,
        amount=code.credits,
        used=0,
        remaining=code.credits,
        priority=0,
        starts_at=now,
        expires_at=expires_at,
        reason=reason,
    )
