"""``python -m tollgate.importer``: read the exports, check them, write through the services.

    python -m tollgate.importer MAPPING [MAPPING ...] --admin-email root@example.com
        [--export PATH] [--dry-run] [--report import-report.json]
        [--auth-url URL] [--billing-url URL] [--usage-url URL]

The superadmin's password comes from ``TOLLGATE_IMPORT_PASSWORD`` (else it is asked
for on the terminal). Several mapping files in one run are checked together, so an
email found in two backends is caught before anything is written. Exit status: 0
when everything was written or already in, 1 when rows were refused, 2 when the
run could not start (a mapping or an export that cannot be read, a sign-in refused).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tollgate.importer.checks import check, give_default_plans, refuse_duplicate_emails
from tollgate.importer.client import Refused, ServiceClient, Services
from tollgate.importer.mapping import MappingError, load_mapping
from tollgate.importer.readers import ExportError
from tollgate.importer.records import Extract
from tollgate.importer.report import Report
from tollgate.importer.shapes import extract
from tollgate.importer.writer import Writer, kind_of

PASSWORD_VARIABLE = "TOLLGATE_IMPORT_PASSWORD"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tollgate.importer",
        description="Move users, organizations, plans, balances and usage in from another backend.",
    )
    p.add_argument("mappings", nargs="+", type=Path, help="mapping files (YAML or TOML)")
    p.add_argument("--export", type=Path, help="the export to read (one mapping only)")
    p.add_argument(
        "--dry-run", action="store_true", help="read and check everything; write nothing"
    )
    p.add_argument("--report", type=Path, default=Path("import-report.json"))
    p.add_argument("--admin-email", help="a superadmin's email (not needed for --dry-run)")
    p.add_argument("--auth-url", default="http://127.0.0.1:8001")
    p.add_argument("--billing-url", default="http://127.0.0.1:8002")
    p.add_argument("--usage-url", default="http://127.0.0.1:8003")
    return p


def read_all(args: argparse.Namespace, report: Report) -> tuple[Extract, dict[str, str | None]]:
    if args.export is not None and len(args.mappings) > 1:
        raise MappingError("--export names one export: give it with one mapping file")
    everything = Extract()
    default_plans: dict[str, str | None] = {}
    for path in args.mappings:
        mapping = load_mapping(path)
        if mapping.source in default_plans:
            raise MappingError(f"{path}: source {mapping.source!r} is named twice")
        default_plans[mapping.source] = mapping.default_plan
        everything.merge(extract(mapping, mapping.open_export(args.export)))
    report.read.update(everything.read)
    return everything, default_plans


async def run(args: argparse.Namespace, console: Console) -> int:
    report = Report(dry_run=args.dry_run, sources=[str(p) for p in args.mappings])
    try:
        records, default_plans = read_all(args, report)
    except (MappingError, ExportError) as exc:
        console.print(f"[red]cannot read:[/red] {exc}")
        return 2
    services = Services(args.auth_url, args.billing_url, args.usage_url)
    client = None
    if not args.dry_run:
        if not args.admin_email:
            console.print("[red]--admin-email is required to write[/red]")
            return 2
        password = os.environ.get(PASSWORD_VARIABLE) or getpass.getpass("superadmin password: ")
        client = ServiceClient(services, args.admin_email, password)
    try:
        plans = await _catalog(services, client, console)
        refuse_duplicate_emails(records)
        give_default_plans(records, default_plans)
        check(records, plans)
        for refusal in records.refusals:
            report.refuse(kind_of(refusal.ref), refusal.ref, refusal.reason, refusal.because_of)
        if client is not None:
            await client.sign_in()
            with Progress(
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=not console.is_terminal,
            ) as progress:
                await Writer(client, report, progress).write(records)
        else:
            _count_what_would_go(records, report)
    except Refused as exc:
        console.print(f"[red]{exc.detail}[/red]")
        return 2
    except httpx.HTTPError as exc:
        # Retried with backoff already: the service is down, the run can be resumed later.
        console.print(f"[red]{_unreachable(exc)}[/red]; run again to resume")
        return 2
    finally:
        if client is not None:
            await client.close()
    report.write(args.report)
    report.print_summary(console)
    console.print(f"report: {args.report}")
    return 1 if report.refusals else 0


async def _catalog(
    services: Services, client: ServiceClient | None, console: Console
) -> list[str] | None:
    """Billing's plan codes, so an unknown plan is refused before anything is written."""
    try:
        if client is not None:
            return list(await client.plans())
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{services.billing}/api/subscriptions/plans")
            response.raise_for_status()
            return [str(p["code"]) for p in response.json()]
    except httpx.HTTPError:
        if client is not None:
            raise
        console.print("billing is unreachable: plans checked against the mapping only")
        return None


def _unreachable(exc: httpx.HTTPError) -> str:
    try:
        return f"cannot reach {exc.request.url}: {exc}"
    except RuntimeError:  # an error raised before any request was made
        return f"cannot reach the services: {exc}"


def _count_what_would_go(records: Extract, report: Report) -> None:
    report.imported("people", len(records.people))
    report.imported("organizations", len(records.organizations))
    report.imported("memberships", sum(len(o.members) for o in records.organizations))
    for kind in ("subscriptions", "balances", "grants", "usage", "invoices", "payments"):
        report.imported(kind, len(getattr(records, kind)))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=True)
    return asyncio.run(run(args, console))


if __name__ == "__main__":
    sys.exit(main())
