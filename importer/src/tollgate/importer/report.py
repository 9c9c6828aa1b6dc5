"""What a run did: counts per kind of record, every refused row with its reason.

The same facts go to the terminal (a summary table) and to a JSON file a script
can read: ``{"counts": {kind: {imported, skipped, refused}}, "read": {collection:
rows}, "refused": [{source, collection, source_id, reason, because_of}], ...}``.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tollgate.importer.records import Ref, Refusal

__all__ = ["KINDS", "Report"]

KINDS = (
    "people",
    "organizations",
    "memberships",
    "subscriptions",
    "balances",
    "grants",
    "usage",
    "invoices",
    "payments",
)


class Report:
    def __init__(self, *, dry_run: bool, sources: list[str]) -> None:
        self.dry_run = dry_run
        self.sources = sources
        self.started_at = datetime.now(UTC)
        self.read: Counter[str] = Counter()
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.refusals: list[Refusal] = []
        self.timings: dict[str, float] = {}
        self._clock: dict[str, float] = {}

    def imported(self, kind: str, n: int = 1) -> None:
        self.counts[kind]["imported"] += n

    def skipped(self, kind: str, n: int = 1) -> None:
        self.counts[kind]["skipped"] += n

    def refuse(self, kind: str, ref: Ref, reason: str, because_of: Ref | None = None) -> None:
        self.counts[kind]["refused"] += 1
        self.refusals.append(Refusal(ref, reason, because_of))

    def start(self, kind: str) -> None:
        self._clock[kind] = time.perf_counter()

    def stop(self, kind: str) -> None:
        self.timings[kind] = time.perf_counter() - self._clock.pop(kind)

    def rate(self, kind: str) -> float | None:
        """Rows written per second for a kind (imported and skipped alike)."""
        seconds = self.timings.get(kind)
        done = self.counts[kind]["imported"] + self.counts[kind]["skipped"]
        return round(done / seconds, 1) if seconds and done else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "sources": self.sources,
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "read": dict(sorted(self.read.items())),
            "counts": {
                kind: {
                    "imported": self.counts[kind]["imported"],
                    "skipped": self.counts[kind]["skipped"],
                    "refused": self.counts[kind]["refused"],
                }
                for kind in KINDS
            },
            "usage_rows_per_second": self.rate("usage"),
            "refused": [
                {
                    "source": r.ref.source,
                    "collection": r.ref.collection,
                    "source_id": r.ref.id,
                    "reason": r.reason,
                    "because_of": str(r.because_of) if r.because_of else None,
                }
                for r in self.refusals
            ],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")

    def print_summary(self, console: Console) -> None:
        verb = "would import" if self.dry_run else "imported"
        table = Table(title=f"Import summary ({'dry run' if self.dry_run else 'written'})")
        table.add_column("records")
        for column in (verb, "already in", "refused"):
            table.add_column(column, justify="right")
        for kind in KINDS:
            c = self.counts[kind]
            if c:
                table.add_row(kind, str(c["imported"]), str(c["skipped"]), str(c["refused"]))
        console.print(table)
        console.print(
            f"read {sum(self.read.values())} rows from {len(self.read)} collections; "
            f"{len(self.refusals)} refused"
        )
        for refusal in self.refusals:
            cause = f" (because of {refusal.because_of})" if refusal.because_of else ""
            console.print(f"  refused {refusal.ref}: {refusal.reason}{cause}", highlight=False)
        rate = self.rate("usage")
        if rate:
            console.print(f"usage history: {rate} rows/s")
