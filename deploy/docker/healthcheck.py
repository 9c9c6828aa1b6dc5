"""Container HEALTHCHECK: GET /healthz (or the path given) on the service's port, no curl.

    python healthcheck.py            process up (the image's HEALTHCHECK)
    python healthcheck.py /readyz    dependencies reachable (compose gates start order on it)

The port comes from ``<PREFIX>_PORT`` (the variable the service itself reads), so
overriding the port never leaves a healthy service reported as unhealthy.
"""

import os
import sys
import urllib.request

prefix = os.environ.get("TOLLGATE_SERVICE_PREFIX", "")
port = os.environ.get(f"{prefix}_PORT") or os.environ.get("TOLLGATE_DEFAULT_PORT", "8000")
path = sys.argv[1] if len(sys.argv) > 1 else "/healthz"
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # any failure means unhealthy; say why in `docker inspect`
    print(f"{path} on port {port} failed: {exc}", file=sys.stderr)
    sys.exit(1)
