"""The template filters that put numbers on the pages."""

import pytest

from usage.templatetags.usage_format import share


@pytest.mark.parametrize(
    ("fraction", "shown"),
    [(0.0, "0%"), (0.004, "<1%"), (0.0099, "<1%"), (0.25, "25%"), (1.0, "100%"), (None, "—")],
)
def test_a_share_that_is_not_nothing_never_reads_0_percent(fraction, shown):
    assert share(fraction) == shown
