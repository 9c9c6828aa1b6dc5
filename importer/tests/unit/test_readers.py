"""Reading each kind of export the way the tools that make them write it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import bson
import pytest
from bson import ObjectId, json_util
from bson.json_util import JSONMode, JSONOptions

from tollgate.importer.mapping import Mapping
from tollgate.importer.readers import Export, ExportError, copy_text_value
from tollgate.importer.records import Extract
from tollgate.importer.shapes.reading import rows

WHEN = datetime(2025, 10, 23, 23, 56, 55, 438000, tzinfo=UTC)
DOC = {
    "_id": ObjectId("68fac0c78d81a68274ac140b"),
    "email": "a@example.com",
    "n": 2**40,
    "at": WHEN,
}


@pytest.mark.parametrize("mode", [JSONMode.CANONICAL, JSONMode.RELAXED])
def test_mongoexport_lines_in_either_extended_json_mode_read_back_as_bson_values(
    tmp_path: Path, mode: JSONMode
) -> None:
    options = JSONOptions(json_mode=mode, tz_aware=True)
    (tmp_path / "users.json").write_text(json_util.dumps(DOC, json_options=options) + "\n\n")

    rows = list(Export("mongoexport", tmp_path).rows("users"))

    assert rows == [DOC]
    assert isinstance(rows[0]["_id"], ObjectId)


def test_a_mongoexport_json_array_reads_like_lines(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text(json_util.dumps([DOC, DOC]))

    assert len(list(Export("mongoexport", tmp_path).rows("users"))) == 2


def test_a_broken_mongoexport_line_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('{"a": 1}\n{"b": \n')

    with pytest.raises(ExportError, match=r"users.json:2"):
        list(Export("mongoexport", tmp_path).rows("users"))


def test_mongodump_collections_are_found_in_the_database_folder(tmp_path: Path) -> None:
    (tmp_path / "translation").mkdir()
    data = bson.encode(DOC) + bson.encode({**DOC, "_id": ObjectId()})
    (tmp_path / "translation" / "company.bson").write_bytes(data)
    export = Export("mongodump", tmp_path)

    rows = list(export.rows("company"))

    assert rows[0]["at"] == WHEN.replace(microsecond=438000)
    assert len(rows) == 2
    assert export.has("company") and not export.has("payments")


def test_pg_dump_copy_blocks_give_rows_with_nulls_and_escapes_undone(tmp_path: Path) -> None:
    dump = tmp_path / "dump.sql"
    dump.write_text(
        "SET client_encoding = 'UTF8';\n"
        'COPY public.users (id, email, "full_name", credits) FROM stdin;\n'
        "1\ta@example.com\tAnn\\tLee\\\\x\t10\n"
        "2\tb@example.com\t\\N\t\\N\n"
        "\\.\n\n"
        "COPY public.model_usage (id) FROM stdin;\n\\.\n"
    )
    export = Export("pgdump", dump)

    rows = list(export.rows("users"))

    assert rows[0] == {
        "id": "1",
        "email": "a@example.com",
        "full_name": "Ann\tLee\\x",
        "credits": "10",
    }
    assert rows[1]["full_name"] is None and rows[1]["credits"] is None
    assert list(export.rows("model_usage")) == []
    assert not export.has("payments")


def test_copy_text_octal_escapes_are_decoded() -> None:
    assert copy_text_value("caf\\303\\251") == "caf\xc3\xa9"
    assert copy_text_value("a\\nb") == "a\nb"


def test_csv_exports_read_empty_fields_as_null(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text('id,email,note\n1,a@example.com,"x, y"\n2,b@example.com,\n')

    rows = list(Export("csv", tmp_path).rows("users"))

    assert rows == [
        {"id": "1", "email": "a@example.com", "note": "x, y"},
        {"id": "2", "email": "b@example.com", "note": None},
    ]


def test_an_export_without_its_users_cannot_be_read(tmp_path: Path) -> None:
    mapping = Mapping(source="acme", shape="supabase", format="csv", export=tmp_path)

    with pytest.raises(ExportError, match="no 'users'"):
        rows(mapping, mapping.open_export(), "users", Extract(), required=True)
