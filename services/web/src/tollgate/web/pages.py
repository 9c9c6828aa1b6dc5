"""Rendering: the templates, the session of the request, and the pages errors get."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from tollgate.web.api import Api
from tollgate.web.security import PAGE_HEADERS, check_csrf
from tollgate.web.sessions import SessionStore, WebSession

__all__ = [
    "TIME_ZONE_COOKIE",
    "ApiDep",
    "Checked",
    "PageSession",
    "redirect",
    "render",
    "sign_in_first",
]

# The person's IANA time zone: set by the page script from the browser, or by the
# account form where scripts do not run. Not a secret, so not in the session.
TIME_ZONE_COOKIE = "tz"

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def time_zone_of(request: Request) -> str:
    name = unquote(request.cookies.get(TIME_ZONE_COOKIE, ""))
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def local_time(value: str | datetime | None, time_zone: str = "UTC") -> str:
    """A timestamp from the API in the person's time zone, to the minute."""
    if value is None or value == "":
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%-d %b %Y, %H:%M %Z")


def money(amount_minor: int | None, currency: str = "usd") -> str:
    """Cents and a currency code as people read them: ``USD 20.00``."""
    if amount_minor is None:
        return "—"
    return f"{currency.upper()} {Decimal(amount_minor) / 100:,.2f}"


def number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


templates.env.filters["local_time"] = local_time
templates.env.filters["money"] = money
templates.env.filters["number"] = number


async def page_session(request: Request) -> WebSession:
    """The person's session, or a fresh one (kept only if the response needs it)."""
    existing: WebSession | None = getattr(request.state, "web_session", None)
    if existing is not None:
        return existing
    store: SessionStore = request.app.state.sessions
    session = await store.load(request.cookies.get(request.app.state.settings.session_cookie))
    if session is None:
        session = WebSession(is_new=True)
    request.state.web_session = session
    return session


PageSession = Annotated[WebSession, Depends(page_session)]


async def checked_session(request: Request, session: PageSession) -> WebSession:
    """The session of a form post whose CSRF token matched."""
    await check_csrf(request, session)
    return session


Checked = Annotated[WebSession, Depends(checked_session)]


def api(request: Request) -> Api:
    value: Api = request.app.state.api
    return value


ApiDep = Annotated[Api, Depends(api)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    *,
    notices: bool = True,
) -> HTMLResponse:
    session: WebSession = getattr(request.state, "web_session", None) or WebSession(is_new=True)
    request.state.web_session = session
    # A page with a form needs the session that holds its CSRF token.
    session.changed = session.changed or session.is_new
    base = {
        "session": session,
        "user": session.user if session.signed_in else None,
        "csrf_token": session.csrf_token,
        "notices": session.take_notices() if notices else [],
        "time_zone": time_zone_of(request),
        "path": request.url.path,
    }
    # Set here too: the 500 page is written outside the middleware that adds them.
    return templates.TemplateResponse(
        request,
        template,
        {**base, **(context or {})},
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )


def redirect(target: str) -> Response:
    return RedirectResponse(target, status_code=303)


def sign_in_first(request: Request) -> Response:
    """Send a person who is not signed in to the sign-in page, and back here after."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"/sign-in?next={quote(here, safe='')}")
