from __future__ import annotations

import pytest

from tollgate.llm_proxy.completions.feature import feature_of
from tollgate.llm_proxy.errors import InvalidRequest


def test_the_header_wins_over_the_body_and_is_folded_to_lower_case() -> None:
    headers = {"x-tollgate-feature": " Inline-Edit "}
    assert feature_of(headers, {"metadata": {"feature": "chat-panel"}}) == "inline-edit"


def test_metadata_feature_tags_a_call_from_a_client_that_cannot_set_headers() -> None:
    assert feature_of({}, {"metadata": {"feature": "commit-message"}}) == "commit-message"


def test_an_untagged_call_has_no_feature() -> None:
    assert feature_of({}, {"metadata": {"user": "x"}}) is None
    assert feature_of({}, {}) is None


@pytest.mark.parametrize("tag", ["", "two words", "-leading-dash", "x" * 65, "ünïcode"])
def test_a_malformed_tag_is_refused_naming_where_it_came_from(tag: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        feature_of({}, {"metadata": {"feature": tag}})
    assert refused.value.param == "metadata.feature"
