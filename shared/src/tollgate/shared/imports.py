"""What every import route's body starts with: where the record came from.

The importer writes through each owning service's import routes; a record is known by
its old system's collection (or table) and its id there, so a re-run finds what an
earlier run wrote instead of writing it again. NUL characters are refused for every
route by the shared input guard (``tollgate.shared.inputs``), so they are not checked
here again.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SOURCE_NAME", "SourceRef", "StrictBody"]

SOURCE_NAME = r"^[a-z0-9][a-z0-9_.:/-]*$"


class StrictBody(BaseModel):
    """An import body names every field it means: an unknown one is a mapping mistake."""

    model_config = ConfigDict(extra="forbid")


class SourceRef(StrictBody):
    """Where a record came from: the old system's collection or table, and its id there."""

    source: str = Field(min_length=1, max_length=100, pattern=SOURCE_NAME)
    # 150 keeps ``key()`` within the 255 characters the services store ids in.
    source_id: str = Field(min_length=1, max_length=150)

    def key(self) -> str:
        return f"import:{self.source}:{self.source_id}"
