"""The assembly's font work: which glyphs a CID font shows, and which programs it may cut down."""
from pathlib import Path

import pikepdf
import pytest

from legal_docs.render import _compact_cff, _shown_glyphs


def test_shown_glyphs_read_both_forms_of_a_widths_array():
    font = pikepdf.Dictionary(W=pikepdf.Array([3, pikepdf.Array([500, 600]), 10, 12, 1000, 40, pikepdf.Array([250])]))
    assert _shown_glyphs(font) == [0, 3, 4, 10, 11, 12, 40]


def test_shown_glyphs_of_a_font_without_widths_is_notdef():
    assert _shown_glyphs(pikepdf.Dictionary()) == [0]


@pytest.mark.parametrize("path", [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")])
def test_only_cid_keyed_cff_programs_are_cut_down(path):
    if not path.exists():
        pytest.skip("DejaVu fonts are not installed")
    assert _compact_cff(path.read_bytes(), [0, 1, 2]) is None     # TrueType outlines: left as they are
