"""The mapping file: which export is which, and the choices one deployment makes.

YAML or TOML, one per backend moved in. Example (the ready-made ones are in
``tollgate/importer/mappings/``)::

    source: acme-translation        # names this backend in source ids and the report
    shape: translation              # user-management | translation | supabase
    format: mongodump               # mongoexport | mongodump | pgdump | csv
    export: ./dump/translation      # relative to the mapping file; --export overrides
    collections: {companies: company}        # the shape's name -> the export's name
    fields: {users: {user_name: full_name}}  # per collection: shape's field -> export's
    plans: {"page-1000": pro}       # the source's plan -> a Tollgate plan code
    default_plan: free              # for accounts the source gives no plan (omit: refuse)
    tokens_per_unit: 250            # one credit / page / token of the source, in tokens
    roles: {admin: admin}           # the source's platform roles -> Tollgate roles
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tollgate.importer.readers import Export, Format

__all__ = ["Mapping", "MappingError", "load_mapping"]

Shape = Literal["user-management", "translation", "supabase"]
TOLLGATE_ROLES = ("user", "developer", "admin", "superadmin")


class MappingError(Exception):
    """The mapping file is missing, unreadable or says something impossible."""


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    shape: Shape
    format: Format
    export: Path | None = None
    collections: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, dict[str, str]] = Field(default_factory=dict)
    plans: dict[str, str] = Field(default_factory=dict)
    default_plan: str | None = None
    tokens_per_unit: int = Field(default=1, ge=1)
    roles: dict[str, Literal["user", "developer", "admin", "superadmin"]] = Field(
        default_factory=dict
    )
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    model_name: str = Field(default="imported", min_length=1, max_length=200)

    def collection(self, name: str) -> str:
        return self.collections.get(name, name)

    def renamed(self, name: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row with the export's field names turned into the ones the shape reads."""
        renames = self.fields.get(name)
        if not renames:
            return row
        out = dict(row)
        for ours, theirs in renames.items():
            if theirs in row:
                out[ours] = row[theirs]
        return out

    def plan_for(self, source_plan: str | None) -> str | None:
        """The Tollgate plan for the source's plan; None when the mapping has no answer."""
        if source_plan is None or source_plan == "":
            return self.default_plan
        return self.plans.get(str(source_plan))

    def role_for(self, source_role: str | None) -> str:
        if source_role is None:
            return "user"
        if source_role in self.roles:
            return self.roles[source_role]
        return source_role if source_role in TOLLGATE_ROLES else "user"

    def open_export(self, override: Path | None = None) -> Export:
        location = override or self.export
        if location is None:
            raise MappingError(f"{self.source}: no export given (mapping 'export' or --export)")
        return Export(self.format, location)


def load_mapping(path: Path) -> Mapping:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: not valid {path.suffix.lstrip('.')}: {exc}") from exc
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(f"{path}: {exc}") from exc
    if mapping.export is not None and not mapping.export.is_absolute():
        mapping.export = (path.parent / mapping.export).resolve()
    return mapping
