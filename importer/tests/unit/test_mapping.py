"""Mapping files: what a deployment decides, read from YAML or TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollgate.importer.mapping import MappingError, load_mapping

MAPPINGS = Path(__file__).resolve().parents[2] / "src" / "tollgate" / "importer" / "mappings"


@pytest.mark.parametrize("name", ["user-management.yaml", "translation.yaml", "supabase.yaml"])
def test_the_ready_made_mappings_load(name: str) -> None:
    mapping = load_mapping(MAPPINGS / name)

    assert mapping.export is not None and mapping.export.is_absolute()
    assert mapping.default_plan == "free"


def test_a_toml_mapping_renames_fields_and_maps_plans_and_roles(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'source = "acme"\nshape = "supabase"\nformat = "csv"\n'
        'plans = { premium = "enterprise" }\nroles = { owner = "admin" }\n'
        '[fields.users]\npassword_hash = "encrypted_password"\n'
    )

    mapping = load_mapping(path)

    assert mapping.renamed("users", {"encrypted_password": "h"})["password_hash"] == "h"
    assert mapping.plan_for("premium") == "enterprise"
    assert mapping.plan_for("gold") is None
    assert mapping.plan_for(None) is None  # no default_plan: the account is refused
    assert mapping.role_for("owner") == "admin"
    assert mapping.role_for("wizard") == "user"


def test_a_mapping_with_an_unknown_shape_is_refused_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("source: acme\nshape: firebase\nformat: csv\n")

    with pytest.raises(MappingError, match="shape"):
        load_mapping(path)


def test_a_mapping_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("source: [acme\n")

    with pytest.raises(MappingError, match="not valid yaml"):
        load_mapping(path)
