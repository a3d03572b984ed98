"""Line breaking and the script check of the direct text setter, on a synthetic glyph sheet."""
from legal_docs.typeset import Glyph, GlyphSheet, _tokens, simple_script, wrap


def _sheet(advance=0.5, wide=1.0):
    chars = "abcdefghijklmnopqrstuvwxyz0123456789 :-，。（）证据采集时间"
    table = {c: Glyph("/F1", bytes([0, n + 1]), wide if ord(c) > 0x2000 else advance) for n, c in enumerate(chars)}
    return GlyphSheet({"regular": table, "bold": {}, "mono": {}, "monobold": {}}, {"/F1": (0.9, 0.2)})


def test_simple_script_refuses_what_needs_shaping():
    assert simple_script("Captured: 2026-03-02 · 采集时间（UTC）\n证据1")
    assert not simple_script("नमस्ते")          # Devanagari: shaping
    assert not simple_script("e\u0301")         # combining mark
    assert not simple_script("a\u200db")        # zero-width joiner
    assert not simple_script("مرحبا")            # Arabic: joining


def test_breaks_at_spaces_and_between_cjk_but_not_before_closing_punctuation():
    assert _tokens("ab cd  e") == ["ab ", "cd  ", "e"]
    assert _tokens("证据（采集）。时间") == ["证", "据", "（采", "集）。", "时", "间"]


def test_wrap_fits_the_width_and_keeps_every_character():
    sheet = _sheet()
    text = "abc defgh ij klmnop qrs tuv"
    lines = wrap(sheet, "regular", text, 10, 30)       # 6 characters a line
    assert all(sheet.width("regular", line, 10) <= 30 for line in lines)
    assert " ".join(lines) == text


def test_a_word_wider_than_the_line_is_broken_anywhere():
    sheet = _sheet()
    lines = wrap(sheet, "regular", "0123456789abcdef", 10, 25)
    assert lines == ["01234", "56789", "abcde", "f"]


def test_cjk_wraps_between_characters_keeping_punctuation_attached():
    sheet = _sheet()
    lines = wrap(sheet, "regular", "证据采集时间，证据。", 10, 30)
    assert all(sheet.width("regular", line, 10) <= 30 for line in lines)
    assert "".join(lines) == "证据采集时间，证据。"
    assert not any(line.startswith(("，", "。")) for line in lines)
