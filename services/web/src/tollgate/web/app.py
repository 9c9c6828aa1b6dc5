"""The web app: pages for people, served through the gateway at every non-API path."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis
from starlette.exceptions import HTTPException as StarletteHTTPException

from tollgate.shared.web import create_service_app
from tollgate.web.account.endpoints import router as account_router
from tollgate.web.admin.endpoints import router as admin_router
from tollgate.web.admin_catalog.endpoints import router as admin_catalog_router
from tollgate.web.api import Api, ApiError, ServiceDown, SignedOut, person_address
from tollgate.web.api_keys.endpoints import router as api_keys_router
from tollgate.web.billing.endpoints import router as billing_router
from tollgate.web.config import Settings
from tollgate.web.credits.endpoints import router as credits_router
from tollgate.web.device.endpoints import router as device_router
from tollgate.web.home.endpoints import router as home_router
from tollgate.web.margin.endpoints import router as margin_router
from tollgate.web.member_usage.endpoints import router as member_usage_router
from tollgate.web.organization.endpoints import router as organization_router
from tollgate.web.pages import page_session, redirect, render, sign_in_first
from tollgate.web.promotions.endpoints import router as promotions_router
from tollgate.web.security import PAGE_HEADERS, CsrfRefused
from tollgate.web.sessions import SessionStore, WebSession
from tollgate.web.signing_in.endpoints import router as signing_in_router
from tollgate.web.sub_users.endpoints import router as sub_users_router
from tollgate.web.usage.endpoints import router as usage_router

log = logging.getLogger("tollgate.web")
# httpx logs every request at INFO: a page makes several, and the gateway logs them already.
logging.getLogger("httpx").setLevel(logging.WARNING)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        client = httpx.AsyncClient(base_url=settings.api_url, timeout=settings.api_timeout_seconds)
        store = SessionStore(redis, settings.session_key_prefix, settings.session_idle_days * 86400)
        app.state.redis = redis
        app.state.sessions = store
        app.state.api = Api(client, store)
        yield
        await client.aclose()
        await redis.aclose()

    async def redis_ready() -> None:
        await app.state.redis.ping()

    app = create_service_app(
        service="web",
        title="Tollgate web",
        lifespan=lifespan,
        readiness={"redis": redis_ready},
        otlp_endpoint=settings.otlp_endpoint,
        api_docs=False,
    )
    app.state.settings = settings
    app.openapi_url = None  # pages, not an API: nothing to merge into the gateway's spec
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(home_router)
    app.include_router(signing_in_router)
    app.include_router(device_router)
    app.include_router(account_router)
    app.include_router(api_keys_router)
    app.include_router(usage_router)
    app.include_router(member_usage_router)
    app.include_router(billing_router)
    app.include_router(credits_router)
    app.include_router(organization_router)
    app.include_router(admin_router)
    app.include_router(admin_catalog_router)
    app.include_router(margin_router)
    app.include_router(sub_users_router)
    app.include_router(promotions_router)
    _install_error_pages(app)

    @app.middleware("http")
    async def keep_session(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Only the gateway reaches the app: its X-Forwarded-For names the person.
        person_address.set(request.headers.get("x-forwarded-for"))
        response = await call_next(request)
        session: WebSession | None = getattr(request.state, "web_session", None)
        if session is not None:
            await _persist(request, response, session, settings)
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


async def _persist(
    request: Request, response: Response, session: WebSession, settings: Settings
) -> None:
    store: SessionStore = request.app.state.sessions
    if session.ended:
        await store.delete(session)
        response.delete_cookie(settings.session_cookie, path="/")
        return
    if not (session.changed or session.is_new):
        return
    await store.save(session)
    if session.is_new:
        response.set_cookie(
            settings.session_cookie,
            session.id,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )


def _install_error_pages(app: FastAPI) -> None:
    """Every failure gets a page that says what happened and what to do next."""

    async def error_page(
        request: Request, template: str, context: dict[str, Any] | None, status_code: int
    ) -> Response:
        # The person's own session, not a new one: an error page (a favicon's 404, say)
        # that handed out a fresh session would replace the cookie of the tab beside it,
        # and the form that tab is showing would then "expire".
        with contextlib.suppress(Exception):
            await page_session(request)
        # Notices wait for the next real page: a favicon's 404 must not take them.
        return render(request, template, context, status_code=status_code, notices=False)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return await error_page(request, "errors/not_found.html", None, 404)
        return await error_page(
            request, "errors/problem.html", {"detail": str(exc.detail)}, exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = str(first.get("loc", ["", "the form"])[-1]).replace("_", " ")
        detail = f"The form was incomplete or invalid ({field}: {first.get('msg', 'invalid')})."
        return await error_page(request, "errors/problem.html", {"detail": detail}, 400)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        return await error_page(request, "errors/csrf.html", None, 403)

    @app.exception_handler(SignedOut)
    async def _signed_out(request: Request, exc: SignedOut) -> Response:
        session: WebSession | None = getattr(request.state, "web_session", None)
        if session is not None:
            session.sign_out()
        return sign_in_first(request) if request.method == "GET" else redirect("/sign-in")

    @app.exception_handler(ServiceDown)
    async def _down(request: Request, exc: ServiceDown) -> Response:
        log.warning("%s %s: the API did not answer: %s", request.method, request.url.path, exc)
        return await error_page(request, "errors/down.html", None, 503)

    @app.exception_handler(ApiError)
    async def _refused(request: Request, exc: ApiError) -> Response:
        if exc.status == 404:
            return await error_page(request, "errors/not_found.html", None, 404)
        return await error_page(request, "errors/problem.html", {"detail": exc.detail}, exc.status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return await error_page(request, "errors/unexpected.html", None, 500)
