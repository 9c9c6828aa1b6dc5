from __future__ import annotations

import pytest

from tollgate.web.navigation import safe_next


@pytest.mark.parametrize(
    "target",
    ["/", "/usage", "/device?user_code=BCDF-GHJK", "/usage?start=2026-01-01&end=2026-01-31"],
)
def test_a_path_of_ours_is_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "https://elsewhere.example/",
        "//elsewhere.example/path",
        "/\\elsewhere.example",
        "\\\\elsewhere.example",
        "javascript:alert(1)",
        "usage",
        "/usage\r\nSet-Cookie: x=1",
        "/\tfoo",
        "",
        None,
        "/" + "a" * 3000,
    ],
)
def test_anything_that_could_leave_the_site_falls_back_to_the_default(
    target: str | None,
) -> None:
    assert safe_next(target, default="/home") == "/home"
