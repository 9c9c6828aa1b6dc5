"""The TypeScript client (clients/typescript) against the whole running system.

Its own tests, in Node's test runner, do the journeys an extension does: device sign-in,
two windows refreshing at once, a chat streamed and aborted, an API key, and the typed
402 and 429. This file starts the stack and hands them the gateway's URL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack import Stack
from oauth_standin import Identity

CLIENT = Path(__file__).resolve().parents[1] / "clients" / "typescript"


def test_the_typescript_client_passes_its_journeys_against_the_real_gateway(
    stack: Stack, outside: object
) -> None:
    ready = shutil.which("node") is not None and (CLIENT / "node_modules").is_dir()
    assert ready, "Node.js and the client's packages are needed: run `make node-deps`"
    github_email = f"octo-{uuid.uuid4().hex[:8]}@example.com"
    provider = outside.oauth  # type: ignore[attr-defined]
    provider.next_identity = Identity(subject=str(uuid.uuid4().int % 10**9), email=github_email)
    subprocess.run(["npm", "run", "--silent", "build"], cwd=CLIENT, check=True)
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "test/e2e/"],
        cwd=CLIENT,
        env={
            **os.environ,
            "TOLLGATE_GATEWAY_URL": stack.url("gateway"),
            "TOLLGATE_OAUTH_EMAIL": github_email,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_the_clients_committed_types_are_generated_from_the_document_the_apis_publish(
    tmp_path: Path,
) -> None:
    """An API change without `make openapi-client` would leave the client's types stale."""
    from openapi_document import merged_document

    committed = json.loads((CLIENT / "openapi.json").read_text())
    assert committed == merged_document(), "the API changed: run `make openapi-client`"
    generated = tmp_path / "api.ts"
    subprocess.run(
        ["npx", "--no-install", "openapi-typescript", "openapi.json", "--output", str(generated)],
        cwd=CLIENT,
        check=True,
        capture_output=True,
    )
    current = (CLIENT / "src" / "generated" / "api.ts").read_text()
    assert generated.read_text() == current, "run `make openapi-client`"
