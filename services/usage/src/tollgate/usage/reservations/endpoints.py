"""``/internal/reservations``: llm-proxy holds tokens before a call and releases them on failure."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from starlette.responses import Response

from tollgate.shared.db import SessionDep
from tollgate.shared.direct_routes import read_body
from tollgate.usage.deps import ReservationCaller, calling_service, reservation_caller
from tollgate.usage.reservations import service
from tollgate.usage.reservations.desk import ReservationDesk
from tollgate.usage.reservations.schemas import ReleaseOut, ReservationOut, ReservationRequest

router = APIRouter(prefix="/internal/reservations", tags=["internal"])
RESERVATION_BODY_LIMIT = 16 * 1024


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReservationOut)
async def create_reservation(
    body: ReservationRequest, caller: ReservationCaller, request: Request
) -> ReservationOut:
    """Hold tokens for one LLM call, or 402 with the available balance."""
    desk: ReservationDesk = request.app.state.reservation_desk
    return await desk.reserve(caller, body)


async def create_reservation_directly(request: Request) -> Response:
    """``create_reservation`` served ahead of the FastAPI frame (``shared.direct_routes``).

    llm-proxy asks for a hold before every LLM call: this is the service's hottest
    route, and the frame around it cost more CPU than the reservation itself.
    """
    service = await calling_service(request)
    caller = await reservation_caller(request, request.app.state.settings, service)
    body = await read_body(request, ReservationRequest, RESERVATION_BODY_LIMIT)
    desk: ReservationDesk = request.app.state.reservation_desk
    answer = await desk.reserve(caller, body)
    return Response(answer.model_dump_json(), status_code=201, media_type="application/json")


@router.post("/{reservation_id}/release", response_model=ReleaseOut)
async def release_reservation(
    reservation_id: uuid.UUID, caller: ReservationCaller, session: SessionDep
) -> ReleaseOut:
    """Give back a hold whose call failed before producing any token."""
    return await service.release(session, caller, reservation_id)
