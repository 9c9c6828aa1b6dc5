import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tollgate.shared.errors import Unauthorized
from tollgate.shared.security import JWKSVerifier
from tollgate.shared.testing import SigningKey, free_port, jwks_server


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": "tollgate-auth",
        "aud": "tollgate",
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
        "typ": "access",
        "role": "user",
    }
    base.update(overrides)
    return base


async def test_a_valid_token_passes_and_yields_its_claims() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        user = uuid.uuid4()
        principal = await verifier.verify(key.mint(user, role="admin", plan="pro"))
        await verifier.close()
    assert principal.user_id == user
    assert principal.role == "admin"
    assert principal.plan == "pro"


async def test_alg_none_is_rejected() -> None:
    key = SigningKey()
    token = b64({"alg": "none", "kid": key.kid, "typ": "JWT"}) + "." + b64(claims()) + "."
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        with pytest.raises(Unauthorized, match="algorithm"):
            await verifier.verify(token)


async def test_hmac_signed_with_the_public_key_is_rejected() -> None:
    key = SigningKey()
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": key.kid}
    # PyJWT refuses to sign with a PEM key, which is the attack: sign the bytes by hand.
    import hashlib
    import hmac

    signing_input = b64(header) + "." + b64(claims())
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        with pytest.raises(Unauthorized, match="algorithm"):
            await verifier.verify(token)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aud": "somebody-else"}, "(?i)audience"),
        ({"iss": "evil"}, "(?i)issuer"),
        ({"exp": int(time.time()) - 120}, "expired"),
    ],
)
async def test_wrong_audience_issuer_or_expiry_is_rejected(
    overrides: dict[str, object], message: str
) -> None:
    key = SigningKey()
    token = jwt.encode(
        claims(**overrides), key.private, algorithm="EdDSA", headers={"kid": key.kid}
    )
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        with pytest.raises(Unauthorized, match=message):
            await verifier.verify(token)


async def test_a_token_without_exp_is_rejected() -> None:
    key = SigningKey()
    body = claims()
    del body["exp"]
    token = jwt.encode(body, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        with pytest.raises(Unauthorized):
            await verifier.verify(token)


async def test_a_tampered_token_is_rejected() -> None:
    key = SigningKey()
    token = key.mint(role="user")
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["role"] = "superadmin"
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        with pytest.raises(Unauthorized):
            await verifier.verify(f"{header}.{b64(forged)}.{signature}")


async def test_an_unknown_kid_is_rejected() -> None:
    known, stranger = SigningKey(), SigningKey()
    async with jwks_server(known) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        await verifier.verify(known.mint())
        with pytest.raises(Unauthorized, match="unknown key"):
            await verifier.verify(stranger.mint())


async def test_a_key_added_to_the_jwks_later_is_picked_up() -> None:
    first, second = SigningKey(), SigningKey()
    async with jwks_server(first) as (url, published):
        verifier = JWKSVerifier(
            url, issuer="tollgate-auth", audience="tollgate", refetch_cooldown=0
        )
        await verifier.verify(first.mint())
        published.append(second)
        principal = await verifier.verify(second.mint())
    assert principal.typ == "access"


async def test_last_good_keys_keep_working_when_the_issuer_is_down() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(
            url, issuer="tollgate-auth", audience="tollgate", refetch_cooldown=0
        )
        await verifier.verify(key.mint())
    # The server is gone now; a refresh fails but the cached key still verifies.
    assert await verifier.refresh(force=True) is False
    assert (await verifier.verify(key.mint())).typ == "access"


async def test_unknown_kids_do_not_hammer_the_issuer() -> None:
    key = SigningKey()
    fetches = 0
    async with jwks_server(key) as (url, _):
        verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
        original = verifier._http.get

        async def counting_get(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            nonlocal fetches
            fetches += 1
            return await original(*args, **kwargs)

        verifier._http.get = counting_get  # type: ignore[method-assign]
        await verifier.verify(key.mint())
        for _ in range(20):
            with pytest.raises(Unauthorized):
                await verifier.verify(SigningKey().mint())
    assert fetches == 1


async def test_an_unreachable_issuer_means_unauthorized_not_a_crash() -> None:
    url = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    verifier = JWKSVerifier(url, issuer="tollgate-auth", audience="tollgate")
    with pytest.raises(Unauthorized):
        await verifier.verify(SigningKey().mint())
