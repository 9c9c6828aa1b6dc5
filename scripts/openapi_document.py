"""Write the gateway's public OpenAPI document without running anything.

    python scripts/openapi_document.py [OUTPUT]   default: clients/typescript/openapi.json

Each service's application is built (no lifespan, so no database, broker or network)
and its document merged exactly as the gateway merges them at ``/openapi.json``, so
the TypeScript client is generated from what the running gateway publishes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "clients" / "typescript" / "openapi.json"


def merged_document() -> dict[str, Any]:
    # Development settings accept the placeholder secrets; nothing here connects.
    os.environ.setdefault("TOLLGATE_ENV", "development")
    from tollgate.auth.app import create_app as auth_app
    from tollgate.billing.app import create_app as billing_app
    from tollgate.gateway.config import PUBLIC_ROUTES, ROUTES, Service
    from tollgate.gateway.openapi import merge_documents
    from tollgate.gateway.routing import RouteTable
    from tollgate.llm_proxy.app import create_app as llm_proxy_app
    from tollgate.usage.app import create_app as usage_app

    documents: dict[Service, dict[str, Any]] = {
        "auth": auth_app().openapi(),
        "billing": billing_app().openapi(),
        "usage": usage_app().openapi(),
        "llm-proxy": llm_proxy_app().openapi(),
    }
    return merge_documents(documents, RouteTable(ROUTES, PUBLIC_ROUTES))


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    output.write_text(json.dumps(merged_document(), indent=2, sort_keys=False) + "\n")
    print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")


if __name__ == "__main__":
    main()
