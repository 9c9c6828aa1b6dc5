from __future__ import annotations

import time

from tollgate.web.sessions import WebSession

LOGIN = {"access_token": "a1", "refresh_token": "r1", "expires_in": 900, "user": {"id": "u"}}


def test_signing_in_gives_the_session_a_new_id_and_csrf_token_and_forgets_the_old_id() -> None:
    visitor = WebSession()
    old_id, old_csrf = visitor.id, visitor.csrf_token

    visitor.sign_in(LOGIN)

    assert visitor.id != old_id and visitor.csrf_token != old_csrf
    assert visitor.previous_id == old_id
    assert visitor.signed_in and visitor.user == {"id": "u"}
    assert visitor.access_expires_at > time.time() + 800


def test_a_session_survives_its_json_without_what_the_request_did_to_it() -> None:
    session = WebSession()
    session.sign_in(LOGIN)
    session.notify("Saved.")

    again = WebSession.from_json(session.to_json())

    assert again == session
    assert not again.is_new and not again.changed and again.previous_id is None


def test_notices_are_shown_once() -> None:
    session = WebSession()
    session.notify("Saved.")

    assert session.take_notices() == ["Saved."]
    assert session.take_notices() == []
