"""``/internal/reservations``: llm-proxy holds tokens before a call and releases them on failure."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from tollgate.shared.db import SessionDep
from tollgate.usage.deps import ReservationCaller
from tollgate.usage.reservations import service
from tollgate.usage.reservations.desk import ReservationDesk
from tollgate.usage.reservations.schemas import ReleaseOut, ReservationOut, ReservationRequest

router = APIRouter(prefix="/internal/reservations", tags=["internal"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReservationOut)
async def create_reservation(
    body: ReservationRequest, caller: ReservationCaller, request: Request
) -> ReservationOut:
    """Hold tokens for one LLM call, or 402 with the available balance."""
    desk: ReservationDesk = request.app.state.reservation_desk
    return await desk.reserve(caller, body)


@router.post("/{reservation_id}/release", response_model=ReleaseOut)
async def release_reservation(
    reservation_id: uuid.UUID, caller: ReservationCaller, session: SessionDep
) -> ReleaseOut:
    """Give back a hold whose call failed before producing any token."""
    return await service.release(session, caller, reservation_id)
