"""One module per kind of backend: raw rows in, Tollgate records (and refusals) out."""

from __future__ import annotations

from collections.abc import Callable

from tollgate.importer.mapping import Mapping
from tollgate.importer.readers import Export
from tollgate.importer.records import Extract
from tollgate.importer.shapes import supabase, translation, user_management

__all__ = ["extract"]

SHAPES: dict[str, Callable[[Mapping, Export], Extract]] = {
    "user-management": user_management.extract,
    "translation": translation.extract,
    "supabase": supabase.extract,
}


def extract(mapping: Mapping, export: Export) -> Extract:
    return SHAPES[mapping.shape](mapping, export)
