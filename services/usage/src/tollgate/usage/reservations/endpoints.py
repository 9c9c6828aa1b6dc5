"""``/internal/reservations``: llm-proxy holds credits before a call and releases them on
failure, or takes a lease for many calls and shrinks it to what they used."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from tollgate.shared.db import SessionDep
from tollgate.shared.direct_routes import DirectRoute, read_body
from tollgate.usage.deps import ReservationCaller, calling_service, reservation_caller
from tollgate.usage.reservations import service
from tollgate.usage.reservations.desk import ReservationDesk
from tollgate.usage.reservations.schemas import (
    ReleaseOut,
    ReservationOut,
    ReservationRequest,
    ShrinkIn,
    ShrinkOut,
)

router = APIRouter(prefix="/internal/reservations", tags=["internal"])
RESERVATION_BODY_LIMIT = 16 * 1024


async def create_reservation(request: Request) -> Response:
    """Hold tokens for one LLM call, or 402 with the available balance.

    Served ahead of the FastAPI frame (``RESERVATION_ROUTE``, ``shared.direct_routes``):
    llm-proxy asks for a hold before every LLM call, so this is the service's hottest
    route, and the frame around it cost more CPU than the reservation itself.
    """
    service = await calling_service(request)
    caller = await reservation_caller(request, request.app.state.settings, service)
    body = await read_body(request, ReservationRequest, RESERVATION_BODY_LIMIT)
    desk: ReservationDesk = request.app.state.reservation_desk
    answer = await desk.reserve(caller, body)
    return Response(answer.model_dump_json(), status_code=201, media_type="application/json")


RESERVATION_ROUTE = DirectRoute(
    "POST",
    "/internal/reservations",
    create_reservation,
    body=ReservationRequest,
    answer=ReservationOut,
    status_code=201,
    tags=("internal",),
)


@router.post("/{reservation_id}/release", response_model=ReleaseOut)
async def release_reservation(
    reservation_id: uuid.UUID, caller: ReservationCaller, session: SessionDep
) -> ReleaseOut:
    """Give back a hold whose call failed before producing any token."""
    return await service.release(session, caller, reservation_id)


@router.post("/{reservation_id}/shrink", response_model=ShrinkOut)
async def shrink_lease(
    reservation_id: uuid.UUID, body: ShrinkIn, caller: ReservationCaller, session: SessionDep
) -> ShrinkOut:
    """Lower a lease to what its calls have spent or may still spend; final retires it."""
    return await service.shrink_lease(session, caller, reservation_id, body)
