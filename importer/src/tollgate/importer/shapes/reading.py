"""Walking a collection of an export: each row with its ref, bad values refused, not raised."""

from __future__ import annotations

from collections.abc import Callable

from tollgate.importer.mapping import Mapping
from tollgate.importer.readers import Export, ExportError, Row
from tollgate.importer.records import Extract, Ref
from tollgate.importer.shapes.values import BadValue, ident

__all__ = ["each", "rows"]


def rows(
    mapping: Mapping, export: Export, name: str, out: Extract, *, required: bool = False
) -> list[tuple[Ref, Row]]:
    """The collection's rows with their refs; an absent optional collection is empty."""
    physical = mapping.collection(name)
    if not export.has(physical):
        if required:
            raise ExportError(f"{mapping.source}: the export has no {physical!r}")
        return []
    found = []
    for number_, raw in enumerate(export.rows(physical), 1):
        out.read[name] += 1
        row = mapping.renamed(name, raw)
        key = ident(row.get("_id")) or ident(row.get("id")) or f"#{number_}"
        found.append((Ref(mapping.source, name, key), row))
    return found


def each(items: list[tuple[Ref, Row]], out: Extract, build: Callable[[Ref, Row], None]) -> None:
    for ref, row in items:
        try:
            build(ref, row)
        except BadValue as exc:
            out.refuse(ref, str(exc))
