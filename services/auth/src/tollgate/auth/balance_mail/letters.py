"""The words of the balance mails, with the links that get more credits."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Letter", "exhausted_letter", "low_balance_letter"]


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str


def _links(web_url: str) -> str:
    base = web_url.rstrip("/")
    return (
        f"Upgrade your plan:   {base}/billing\n"
        f"Buy more credits:    {base}/billing/credits\n"
        f"See what was used:   {base}/usage\n"
    )


def _greeting(name: str | None) -> str:
    return f"Hello {name},\n\n" if name else "Hello,\n\n"


def low_balance_letter(
    name: str | None, remaining: int, threshold: int, *, organization: bool, web_url: str
) -> Letter:
    whose = "Your organization's" if organization else "Your"
    return Letter(
        subject="Your Tollgate balance is running low",
        body=(
            f"{_greeting(name)}{whose} Tollgate balance has fallen to {remaining:,} credits "
            f"(below {threshold:,}). Calls stop when it reaches zero.\n\n{_links(web_url)}"
        ),
    )


def exhausted_letter(name: str | None, *, organization: bool, web_url: str) -> Letter:
    whose = "Your organization's" if organization else "Your"
    return Letter(
        subject="Your Tollgate credits are used up",
        body=(
            f"{_greeting(name)}{whose} Tollgate balance has reached zero: calls to the models "
            "are refused until the plan renews or more credits are added.\n\n"
            f"{_links(web_url)}"
        ),
    )
