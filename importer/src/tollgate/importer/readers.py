"""Reading an export, one collection or table at a time, as plain dicts.

Four kinds of export, each read row by row:

- ``mongoexport``: one file per collection, ``<name>.json``, a document per line or
  one JSON array (``--jsonArray``), Extended JSON canonical or relaxed. PyMongo's
  ``bson.json_util`` turns ``$oid``, ``$date``, ``$numberLong``... into Python values.
- ``mongodump``: ``<name>.bson`` (in the directory or one database folder below it),
  read with the BSON codec PyMongo ships.
- ``pgdump``: one plain-SQL ``pg_dump`` file; the rows of each table's ``COPY ...
  FROM stdin`` block, in PostgreSQL's text format.
- ``csv``: ``<name>.csv`` per table with a header line (``COPY ... TO ... CSV HEADER``).

Values from SQL and CSV stay strings (or None for NULL): the shapes parse them,
so a value that does not parse is refused with its row instead of stopping the read.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

import bson
from bson import json_util
from bson.codec_options import CodecOptions

# BSON dates are UTC; read them as aware datetimes so nothing mistakes them for local time.
JSON_OPTIONS = json_util.JSONOptions(tz_aware=True, tzinfo=UTC)
BSON_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)

Format = Literal["mongoexport", "mongodump", "pgdump", "csv"]
Row = dict[str, Any]

__all__ = ["Export", "ExportError", "Format", "Row", "copy_text_value"]


class ExportError(Exception):
    """The export cannot be read at all (a missing file, a broken line)."""


class Export:
    """One backend's export: rows of a named collection or table, renamed per the mapping."""

    def __init__(self, kind: Format, location: Path) -> None:
        self.kind = kind
        self.location = location
        self._sql_tables: dict[str, tuple[list[str], list[str]]] | None = None

    def rows(self, name: str) -> Iterator[Row]:
        if self.kind == "mongoexport":
            return self._mongoexport(name)
        if self.kind == "mongodump":
            return self._mongodump(name)
        if self.kind == "csv":
            return self._csv(name)
        return self._pgdump(name)

    def has(self, name: str) -> bool:
        try:
            if self.kind == "pgdump":
                return name in self._tables()
            self._file(
                name, {"mongoexport": ".json", "mongodump": ".bson", "csv": ".csv"}[self.kind]
            )
        except ExportError:
            return False
        return True

    def _file(self, name: str, suffix: str) -> Path:
        direct = self.location / f"{name}{suffix}"
        if direct.is_file():
            return direct
        # mongodump writes <out>/<database>/<collection>.bson
        nested = sorted(self.location.glob(f"*/{name}{suffix}"))
        if nested:
            return nested[0]
        raise ExportError(f"{name}{suffix} is not in {self.location}")

    def _mongoexport(self, name: str) -> Iterator[Row]:
        path = self._file(name, ".json")
        with path.open(encoding="utf-8") as lines:
            first = lines.read(1)
            while first.isspace():
                first = lines.read(1)
            if first == "[":
                lines.seek(0)
                yield from json_util.loads(lines.read(), json_options=JSON_OPTIONS)
                return
            lines.seek(0)
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield json_util.loads(line, json_options=JSON_OPTIONS)
                    except ValueError as exc:
                        raise ExportError(f"{path}:{number}: not Extended JSON ({exc})") from exc

    def _mongodump(self, name: str) -> Iterator[Row]:
        path = self._file(name, ".bson")
        with path.open("rb") as data:
            try:
                yield from bson.decode_file_iter(data, codec_options=BSON_OPTIONS)
            except bson.errors.InvalidBSON as exc:
                raise ExportError(f"{path}: not BSON ({exc})") from exc

    def _csv(self, name: str) -> Iterator[Row]:
        path = self._file(name, ".csv")
        with path.open(encoding="utf-8", newline="") as data:
            for row in csv.DictReader(data):
                # COPY ... CSV writes NULL as an empty unquoted field.
                yield {k: (v if v != "" else None) for k, v in row.items()}

    def _pgdump(self, name: str) -> Iterator[Row]:
        tables = self._tables()
        if name not in tables:
            raise ExportError(f"table {name} is not in {self.location}")
        columns, lines = tables[name]
        for line in lines:
            values = [copy_text_value(v) for v in line.split("\t")]
            yield dict(zip(columns, values, strict=True))

    def _tables(self) -> dict[str, tuple[list[str], list[str]]]:
        if self._sql_tables is None:
            self._sql_tables = read_copy_blocks(self.location)
        return self._sql_tables


COPY_START = re.compile(
    r'^COPY\s+(?:(?:"?[\w]+"?)\.)?"?(\w+)"?\s*\(([^)]*)\)\s+FROM\s+stdin;', re.I
)


def read_copy_blocks(path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Every COPY block of a plain pg_dump: table name → (columns, raw data lines)."""
    tables: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] | None = None
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if current is not None:
                if line.rstrip("\n") == "\\.":
                    current = None
                else:
                    current.append(line.rstrip("\n"))
                continue
            start = COPY_START.match(line)
            if start:
                columns = [c.strip().strip('"') for c in start.group(2).split(",")]
                current = []
                tables[start.group(1)] = (columns, current)
    return tables


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def copy_text_value(raw: str) -> str | None:
    """One field of COPY's text format: ``\\N`` is NULL, backslash escapes undone."""
    if raw == "\\N":
        return None
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            octal = re.match(r"[0-7]{1,3}", raw[i + 1 :])
            if octal:
                out.append(chr(int(octal.group(0), 8)))
                i += 1 + len(octal.group(0))
                continue
            out.append(nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)
