"""The outbound URL guard."""

from __future__ import annotations

import pytest

from opsyard.errors import OpsyardError
from opsyard.net import check_target


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "http://[::1/", "http://example.com:99999/", "not a url", ""],
)
def test_malformed_urls_are_refused_with_the_code(url: str) -> None:
    with pytest.raises(OpsyardError) as raised:
        check_target(url, allow_private=True)
    assert raised.value.code == "net.target_refused"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/", "http://[::1]/", "http://10.1.2.3/"])
def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(OpsyardError) as raised:
        check_target(url, allow_private=False)
    assert "non-public" in raised.value.detail
    check_target(url, allow_private=True)
