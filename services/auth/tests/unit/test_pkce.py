from __future__ import annotations

import secrets

from tollgate.auth.oauth.pkce import is_valid_challenge, s256, verifier_matches
from tollgate.auth.oauth.service import with_query


def test_the_rfc_7636_example_verifier_matches_its_challenge() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert verifier_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


def test_another_verifier_does_not_match() -> None:
    challenge = s256(secrets.token_urlsafe(48))

    assert not verifier_matches(secrets.token_urlsafe(48), challenge)


def test_short_or_odd_verifiers_are_refused_outright() -> None:
    short = "abc"

    assert not verifier_matches(short, s256(short))
    assert not verifier_matches("x" * 42 + " ", s256("x" * 42 + " "))


def test_a_challenge_must_look_like_a_sha256_in_base64url() -> None:
    assert is_valid_challenge(s256("anything at all, really, of any length"))
    assert not is_valid_challenge("plain-text-challenge")
    assert not is_valid_challenge("a" * 43 + "=")


def test_redirects_keep_the_clients_own_query() -> None:
    assert with_query("vscode://ext/cb?x=1", code="c", state=None) == "vscode://ext/cb?x=1&code=c"
    assert with_query("vscode://ext/cb", error="access_denied", state="s") == (
        "vscode://ext/cb?error=access_denied&state=s"
    )
