"""The consent rules of packet selection, table-driven over plain items (no database)."""
from types import SimpleNamespace

import pytest

from legal_docs.assembly import default_bates_prefix, select_exhibits


def item(id, subject="granted", third=False, derived_from=None, kind="photo"):
    return SimpleNamespace(id=id, consent_subject=subject, third_parties_present=third, derived_from=derived_from,
                           kind=kind, sha256="ab" * 32)


REDACTED = item("a-red", third=True, derived_from="a")
REFUSED_REDACTED = item("r-red", subject="refused", third=True, derived_from="r")


@pytest.mark.parametrize("candidates, derivatives, overrides, shown, withheld, warnings", [
    ([item("a")], {}, {}, ["a"], [], 0),
    ([item("a", third=True)], {}, {}, [], [("a", None)], 1),
    ([item("a", third=True)], {"a": REDACTED}, {}, ["a-red"], [("a", "a-red")], 1),
    ([item("a", subject="refused")], {}, {}, [], [("a", None)], 1),
    ([item("a", subject="refused")], {}, {"a": "needed"}, ["a"], [], 1),
    ([item("r", subject="refused", third=True)], {"r": REFUSED_REDACTED}, {}, [], [("r", None)], 1),
    ([item("r", subject="refused", third=True)], {"r": REFUSED_REDACTED}, {"r": "needed"}, ["r-red"],
     [("r", "r-red")], 2),
    ([REFUSED_REDACTED], {}, {}, [], [("r-red", None)], 1),
    ([REFUSED_REDACTED], {}, {"r": "needed"}, ["r-red"], [], 1),
    ([item("a", third=True), REDACTED], {"a": REDACTED}, {}, ["a-red"], [("a", "a-red")], 1),
    ([item("n", subject="not_asked"), item("b")], {}, {}, ["n", "b"], [], 0),
])
def test_consent_rules(candidates, derivatives, overrides, shown, withheld, warnings):
    selection = select_exhibits(candidates, derivatives, overrides, "en")
    assert [c.item.id for c in selection.choices] == shown
    assert [(w.id, c.item.id if c else None) for w, _reason, c in selection.withheld] == withheld
    assert len(selection.warnings) == warnings


def test_warnings_are_in_the_packet_language():
    selection = select_exhibits([item("a", third=True)], {}, {}, "zh-CN")
    assert "第三人" in selection.warnings[0] and selection.withheld[0][1] == "有第三人在场且未经其同意"


@pytest.mark.parametrize("reference, prefix", [
    ("CASE-00042", "CASE_00042"), ("2026/7 ab", "C2026_7_AB"), ("a-very-long-reference-123", "A_VERY_LONG_REFE"),
    ("x--", "X"),
])
def test_default_bates_prefix(reference, prefix):
    assert default_bates_prefix(reference) == prefix
