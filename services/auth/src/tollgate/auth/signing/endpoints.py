from typing import Any

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    """Public keys that verify Tollgate access and service tokens."""
    response.headers["Cache-Control"] = "public, max-age=300"
    document: dict[str, Any] = request.app.state.keyring.jwks()
    return document
