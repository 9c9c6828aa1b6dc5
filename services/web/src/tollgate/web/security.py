"""CSRF tokens for every form, and the headers every page carries.

The CSRF token is a random value kept in the person's server-side session and
repeated in a hidden field of each form; a post whose field does not match is
refused. SameSite=Lax already keeps the cookie off cross-site posts; the token
also covers same-site attackers and older browsers.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from tollgate.web.sessions import WebSession

__all__ = ["CSP", "PAGE_HEADERS", "CsrfRefused", "check_csrf", "csp_leaving_for"]


def _csp(form_action: str) -> str:
    # No inline script or style anywhere: every asset is a file the app serves.
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self'; connect-src 'self'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


CSP = _csp("'self'")


def csp_leaving_for(*schemes: str) -> dict[str, str]:
    """The CSP of a page whose forms hand over to Stripe (Checkout, the portal).

    Browsers apply form-action to the redirect that follows a post, and the
    payment page's address is known only once the form is sent.
    """
    return {"Content-Security-Policy": _csp(" ".join(["'self'", *schemes]))}


PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class CsrfRefused(Exception):
    pass


async def check_csrf(request: Request, session: WebSession) -> None:
    """Refuse a form post that does not carry this session's token."""
    form = await request.form()
    sent = form.get("csrf_token")
    if (
        session.is_new
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent.encode(), session.csrf_token.encode())
    ):
        raise CsrfRefused
