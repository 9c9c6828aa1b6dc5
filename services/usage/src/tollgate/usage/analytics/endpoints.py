"""Routes for users and admins: balance, history, limits, stats, extension analytics."""

from __future__ import annotations

from fastapi import APIRouter

from tollgate.shared.db import SessionDep
from tollgate.shared.security import CurrentUser
from tollgate.usage.analytics import service
from tollgate.usage.analytics.schemas import BalanceOut
from tollgate.usage.deps import SettingsDep

router = APIRouter(tags=["usage"])


@router.get("/api/tokens/balance", response_model=BalanceOut)
async def token_balance(
    user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> BalanceOut:
    """The caller's spendable tokens, what is held, used this period, and the grants."""
    return await service.balance(session, settings, user)
