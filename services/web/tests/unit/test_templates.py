"""Rules every page template keeps, checked on the template sources themselves."""

import re
from pathlib import Path

import tollgate.web

TEMPLATES = Path(tollgate.web.__file__).parent / "templates"


def test_every_table_scrolls_inside_its_own_box_on_a_phone() -> None:
    # A table wider than a phone must scroll inside a .table-scroll box; a bare table
    # makes the whole page scroll sideways, which a person on a phone cannot read.
    bare = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        lines = template.read_text().splitlines()
        for number, line in enumerate(lines):
            if "<table" in line:
                before = "\n".join(lines[max(0, number - 2) : number])
                if not re.search(r'class="table-scroll"', before):
                    bare.append(f"{template.relative_to(TEMPLATES)}:{number + 1}")
    assert bare == []
