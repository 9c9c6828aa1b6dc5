"""Constants of the end-to-end stack that tests import (a conftest is not importable by
name: the browser journeys have their own, and ``conftest`` would mean either)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VHOST = "tollgate_test_e2e"
ADMIN_EMAIL = "root@tollgate.example.com"
ADMIN_PASSWORD = "an administrator passphrase 7"
PASSWORD = "tollgate"  # of the local database roles
