"""Auth's commands.

``python -m tollgate.auth create-superadmin --email ...``: the first administrator.
The password is read from ``AUTH_SUPERADMIN_PASSWORD`` or asked for on the terminal,
never taken from the command line (it would land in shell history and ``ps``).

``python -m tollgate.auth announce-facts``: publish every current organization
membership (``org.member_added`` with today's role) and every sub-user's terms
(``sub_user.updated``) again. Usage and billing authorize from what these events
told them; a service that started keeping them after the facts were made (or lost
them) learns them here. Announcing a current fact again changes nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from tollgate.auth.accounts.passwords import Passwords
from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.service import Accounts, sub_user_updated, user_updated
from tollgate.auth.config import Settings
from tollgate.auth.events import publish
from tollgate.auth.orgs.repository import OrganizationRepository
from tollgate.shared.db import create_engine, create_sessionmaker
from tollgate.shared.messaging.events import OrgMemberAdded


async def create_superadmin(settings: Settings, email: str, password: str, name: str | None) -> str:
    """Create the account as superadmin, or promote an existing one; returns what happened."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            passwords = Passwords(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost_kib,
                parallelism=settings.argon2_parallelism,
            )
            existing = await UserRepository(db).by_email(email)
            if existing is not None:
                existing.role = "superadmin"
                existing.is_active = True
                await publish(db, existing.id, user_updated(existing))
                return f"promoted {email} to superadmin"
            await Accounts(db, passwords).register(
                email, password, name, role="superadmin", email_verified=True
            )
            return f"created superadmin {email}"
    finally:
        await engine.dispose()


async def announce_facts(settings: Settings) -> str:
    """Publish every membership and sub-user's terms again, in one transaction."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            members = await OrganizationRepository(db).all_members()
            for m in members:
                added = OrgMemberAdded(org_id=m.org_id, user_id=m.user_id, role=m.role)
                await publish(db, m.user_id, added)
            sub_users = await UserRepository(db).sub_users()
            for user in sub_users:
                await publish(db, user.id, sub_user_updated(user))
            return f"announced {len(members)} memberships and {len(sub_users)} sub-users"
    finally:
        await engine.dispose()


def announce_main(argv: list[str]) -> None:
    argparse.ArgumentParser(prog="python -m tollgate.auth announce-facts").parse_args(argv)
    print(asyncio.run(announce_facts(Settings())))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tollgate.auth create-superadmin")
    parser.add_argument("--email", required=True)
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    password = os.environ.get("AUTH_SUPERADMIN_PASSWORD") or getpass.getpass("Password: ")
    try:
        print(asyncio.run(create_superadmin(Settings(), args.email, password, args.name)))
    except Exception as exc:  # a CLI answers with a message, not a traceback
        print(f"error: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        raise SystemExit(1) from exc
