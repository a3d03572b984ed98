"""Render sample packets in both languages and check them as a court clerk's tools would:
PDF/A-3b identification, output intent, embedded fonts, the associated manifest, bookmarks,
searchable hashes and Bates ranges, and a Bates stamp on every page, continuous across volumes."""
import contextlib
import hashlib
import json
import re
import threading

import pikepdf
import pypdf
import pytest

from legal_docs.bates import bates_number
from legal_docs import render
from legal_docs.render import render_packet
from tests.legal_factories import make_packet_content

PDF_NS = "{http://www.aiim.org/pdfa/ns/id/}"


def _render(tmp_path_factory, name, **options):
    limit = options.pop("max_volume_bytes", None)
    content, _key = make_packet_content(tmp_path_factory.mktemp(f"{name}-in"), **options)
    extra = {"max_volume_bytes": limit} if limit else {}
    return content, render_packet(content, tmp_path_factory.mktemp(f"{name}-out"), **extra)


@pytest.fixture(scope="module", params=[("en", "US-CA"), ("zh-CN", "CN")], ids=["en", "zh-CN"])
def packet(request, tmp_path_factory):
    language, jurisdiction = request.param
    return _render(tmp_path_factory, language, language=language, jurisdiction=jurisdiction, photos=3, note=True)


@pytest.fixture(scope="module")
def split_packet(tmp_path_factory):
    return _render(tmp_path_factory, "split", photos=5, pdf=False, max_volume_bytes=1_200_000)


def _texts(path):
    return [page.extract_text() or "" for page in pypdf.PdfReader(path).pages]


def _font_files(pdf):
    """Every font a page uses, directly or inside a form XObject (the Bates stamp), and whether it is embedded."""
    found = {}

    def visit(resources, depth=0):
        for _name, font in (resources.get("/Font") or {}).items():
            fonts = [font] + list(font.get("/DescendantFonts", []))
            descriptors = [f.get("/FontDescriptor") for f in fonts if f.get("/FontDescriptor") is not None]
            found[str(font.BaseFont)] = any(
                key in d for d in descriptors for key in ("/FontFile", "/FontFile2", "/FontFile3"))
        for _name, xobject in (resources.get("/XObject") or {}).items():
            if xobject.get("/Subtype") == pikepdf.Name.Form and "/Resources" in xobject and depth < 3:
                visit(xobject.Resources, depth + 1)
    for page in pdf.pages:
        visit(page.Resources)
    return found


def test_pdf_a_3b_identification_and_output_intent(packet):
    _content, rendered = packet
    for volume in rendered.volumes:
        with pikepdf.open(volume.path) as pdf:
            with pdf.open_metadata() as meta:
                assert meta.get(f"{PDF_NS}part") == "3"
                assert meta.get(f"{PDF_NS}conformance") == "B"
            intents = pdf.Root.OutputIntents
            assert len(intents) >= 1
            assert intents[0].S == pikepdf.Name("/GTS_PDFA1")
            assert "/DestOutputProfile" in intents[0]


def test_every_font_is_embedded(packet):
    content, rendered = packet
    with pikepdf.open(rendered.volumes[0].path) as pdf:
        fonts = _font_files(pdf)
    assert fonts and all(fonts.values()), fonts
    assert any("DejaVu-Sans-Mono-Bold" in name for name in fonts), fonts   # the Bates stamp's font
    if content.language == "zh-CN":
        assert any("CJK-SC" in name or "CJKsc" in name for name in fonts), fonts
        assert not any("CJK-JP" in name for name in fonts), fonts


def test_language_is_declared(packet):
    content, rendered = packet
    with pikepdf.open(rendered.volumes[0].path) as pdf:
        assert str(pdf.Root.Lang) == content.language


def test_manifest_is_an_associated_file(packet):
    content, rendered = packet
    for volume in rendered.volumes:
        with pikepdf.open(volume.path) as pdf:
            spec = pdf.Root.AF[0]
            assert spec.AFRelationship == pikepdf.Name.Data
            assert str(spec.F) == "manifest.json"
            attached = pdf.attachments["manifest.json"].get_file()
            assert attached.read_bytes() == rendered.embedded_manifest
            assert attached.mime_type == "application/json"
            # the plain file's size and MD5, though the stream is stored deflated
            assert attached.size == len(rendered.embedded_manifest)
            assert attached.md5 == hashlib.md5(rendered.embedded_manifest).digest()
            assert pdf.Root.AF[0].EF.F.Filter == pikepdf.Name.FlateDecode
        assert "manifest.json" in pypdf.PdfReader(volume.path).attachments
    manifest = json.loads(rendered.embedded_manifest)
    assert [e["sha256"] for e in manifest["exhibits"]] == [e.sha256 for e in content.exhibits]
    assert [(e["bates_first"], e["bates_last"]) for e in manifest["exhibits"]] == \
        [rendered.exhibit_bates(e.number) for e in content.exhibits]


def test_a_bookmark_per_section_and_per_exhibit(packet):
    content, rendered = packet
    reader = pypdf.PdfReader(rendered.volumes[0].path)

    def flatten(items, depth=0):
        for item in items:
            if isinstance(item, list):
                yield from flatten(item, depth + 1)
            else:
                yield depth, item.title, reader.get_destination_page_number(item)
    marks = list(flatten(reader.outline))
    top = [title for depth, title, _ in marks if depth == 0]
    sections = {"en": ["Court-filing packet", "Case summary", "Chronology of collection efforts", "Exhibit index",
                       "Exhibits", "Certification of records", "Hash appendix", "How to verify this packet"],
                "zh-CN": ["诉讼证据材料", "案件概要", "催收经过", "证据目录", "证据", "电子数据真实性说明",
                          "哈希值附录", "核验方法"]}[content.language]
    for expected in sections:
        assert any(title.startswith(expected) for title in top), (expected, top)
    label = "Exhibit {}:" if content.language == "en" else "证据{}:"
    for exhibit in content.exhibits:
        matches = [(depth, page) for depth, title, page in marks if title.startswith(label.format(exhibit.number))]
        first, _last = rendered.exhibit_bates(exhibit.number)
        assert matches and matches[0][0] == 1
        assert bates_number("FP", matches[0][1] + 1) == first


def test_text_holds_every_hash_and_bates_range(packet):
    content, rendered = packet
    text = "\n".join(t for v in rendered.volumes for t in _texts(v.path))
    squeezed = re.sub(r"\s+", "", text)
    for exhibit in content.exhibits:
        assert exhibit.sha256 in text
        first, last = rendered.exhibit_bates(exhibit.number)
        assert first in text and last in text
        assert (first if first == last else f"{first}–{last}") in squeezed


def test_bates_stamp_on_every_page_and_continuous(packet):
    _content, rendered = packet
    expected = 1
    for volume in rendered.volumes:
        texts = _texts(volume.path)
        assert len(texts) == volume.pages
        for page_text in texts:
            assert bates_number("FP", expected) in page_text
            expected += 1
    assert expected - 1 == rendered.pages


def test_exhibits_are_on_their_pages(packet):
    content, rendered = packet
    texts = [t for v in rendered.volumes for t in _texts(v.path)]
    for exhibit in content.exhibits:
        placement = next(p for p in rendered.pagination.exhibits if p.number == exhibit.number)
        assert exhibit.sha256 in texts[placement.first - 1]
    photo = next(p for p in rendered.pagination.exhibits if p.number == 1)
    with pikepdf.open(rendered.volumes[0].path) as pdf:
        images = list(pdf.pages[photo.first - 1].get_images().values())
        assert images and images[0].Filter == pikepdf.Name.DCTDecode
        assert images[0].read_raw_bytes() == content.exhibits[0].path.read_bytes()   # copied, not re-encoded


def test_pdf_exhibit_is_rasterised_page_by_page(packet):
    content, rendered = packet
    letter = next(e for e in content.exhibits if e.media_type == "application/pdf")
    placement = next(p for p in rendered.pagination.exhibits if p.number == letter.number)
    assert placement.last - placement.first + 1 >= 2
    with pikepdf.open(rendered.volumes[0].path) as pdf:
        pages = pdf.pages[placement.first - 1:placement.last]
        assert sum(len(page.get_images()) for page in pages) == 2


def test_small_volume_limit_splits_with_continuing_bates(split_packet):
    content, rendered = split_packet
    assert len(rendered.volumes) >= 2
    for before, after in zip(rendered.volumes, rendered.volumes[1:]):
        assert after.first == before.last + 1
    for volume in rendered.volumes:
        assert volume.size <= 1_200_000
        texts = _texts(volume.path)
        assert bates_number("FP", volume.first) in texts[0]
        assert bates_number("FP", volume.last) in texts[-1]
    by_volume = {}
    for placement in rendered.pagination.exhibits:
        volume = rendered.volumes[placement.volume - 1]
        assert volume.first <= placement.first <= placement.last <= volume.last   # never split
        by_volume.setdefault(placement.volume, []).append(placement.number)
    assert sorted(n for numbers in by_volume.values() for n in numbers) == [e.number for e in content.exhibits]
    with pikepdf.open(rendered.volumes[1].path) as pdf:
        assert pdf.attachments["manifest.json"].get_file().read_bytes() == rendered.embedded_manifest


def _page_texts(rendered):
    return [t for v in rendered.volumes for t in _texts(v.path)]


@contextlib.contextmanager
def _another_thread():
    """While active, this process has a second thread, so the renderer starts workers from a fork server."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        release.set()
        thread.join()


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_parallel_rendering_matches_serial(tmp_path, monkeypatch, start_method):
    """Worker processes lay out the same pieces: same pages, text, Bates numbers, volumes and manifest."""
    content, _key = make_packet_content(tmp_path / "in", photos=6, note=True)
    monkeypatch.setattr(render, "CHUNK_EXHIBITS", 2)
    monkeypatch.setattr(render, "PARALLEL_MIN_EXHIBITS", 0)
    results = {}
    for workers in (1, 2):
        monkeypatch.setattr(render, "RENDER_WORKERS", workers)
        with _another_thread() if start_method == "forkserver" and workers > 1 else contextlib.nullcontext():
            results[workers] = render_packet(content, tmp_path / f"out{workers}", max_volume_bytes=1_500_000)
    serial, parallel = results[1], results[2]
    assert len(serial.volumes) >= 2
    assert parallel.pagination == serial.pagination
    assert parallel.embedded_manifest == serial.embedded_manifest
    assert [(v.first, v.last, v.pages) for v in parallel.volumes] == \
        [(v.first, v.last, v.pages) for v in serial.volumes]
    assert _page_texts(parallel) == _page_texts(serial)
    for volume in parallel.volumes:
        with pikepdf.open(volume.path) as pdf, pikepdf.open(serial.volumes[volume.number - 1].path) as other:
            assert [str(item.title) for item in pdf.open_outline().root] == \
                [str(item.title) for item in other.open_outline().root]


def test_numbers_laid_out_on_a_wrong_cover_count_are_laid_out_again(tmp_path, monkeypatch):
    """The front and back matter are numbered on a guessed page count for each volume's cover; when
    a cover turns out otherwise, they are laid out again on the true count."""
    content, _key = make_packet_content(tmp_path / "in", photos=6, note=True)
    monkeypatch.setattr(render, "PARALLEL_MIN_EXHIBITS", 0)
    monkeypatch.setattr(render, "RENDER_WORKERS", 1)
    serial = render_packet(content, tmp_path / "serial", max_volume_bytes=1_500_000)
    monkeypatch.setattr(render, "RENDER_WORKERS", 2)
    monkeypatch.setattr(render, "COVER_PAGES_GUESS", 3)
    guessed = render_packet(content, tmp_path / "guessed", max_volume_bytes=1_500_000)
    assert len(serial.volumes) >= 2
    assert guessed.pagination == serial.pagination and guessed.embedded_manifest == serial.embedded_manifest
    assert _page_texts(guessed) == _page_texts(serial)


def _truncated_images_flag(_job=None):
    from PIL import ImageFile
    return ImageFile.LOAD_TRUNCATED_IMAGES


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_worker_processes_keep_refusing_truncated_images(tmp_path, start_method):
    """WeasyPrint's import-time side effect is undone in every worker, as in the calling process."""
    content, _key = make_packet_content(tmp_path / "in", photos=1, pdf=False, audio=False)
    with _another_thread() if start_method == "forkserver" else contextlib.nullcontext():
        runner = render._Runner(2, (content, [], tmp_path))
    try:
        flags = [runner.pool.submit(_truncated_images_flag).result() for _ in range(4)]
    finally:
        runner.close()
    assert flags == [False] * 4
    assert _truncated_images_flag() is False


def test_bates_numbers_from_a_late_start_keep_their_width(tmp_path):
    """A packet continuing a production: numbers from start_number, stamped on every page, index agreeing."""
    content, _key = make_packet_content(tmp_path / "in", photos=2, pdf=False, audio=False)
    rendered = render_packet(content, tmp_path / "out", start_number=99_990)
    texts = _page_texts(rendered)
    assert rendered.volumes[0].first == 99_990 and rendered.pages == len(texts)
    for offset, page_text in enumerate(texts):
        assert bates_number("FP", 99_990 + offset) in page_text
    squeezed = re.sub(r"\s+", "", "".join(texts))
    for exhibit in content.exhibits:
        first, last = rendered.exhibit_bates(exhibit.number)
        assert (first if first == last else f"{first}–{last}") in squeezed


# --- exhibit pages, index and hash appendix as real text --------------------------------------


def _exhibit_page(rendered, number):
    placement = next(p for p in rendered.pagination.exhibits if p.number == number)
    volume = rendered.volumes[placement.volume - 1]
    return volume.path, placement.first - volume.first


def test_captions_are_real_text(packet):
    """The caption of every exhibit is searchable text: capture time, collector, SHA-256, the labels."""
    content, rendered = packet
    labels = {"en": ("Captured: ", "Collector: ", "SHA-256: ", "Chain of custody"),
              "zh-CN": ("采集时间：", "催收员：", "SHA-256：", "证据保管链")}[content.language]
    for exhibit in content.exhibits:
        path, index = _exhibit_page(rendered, exhibit.number)
        text = pypdf.PdfReader(path).pages[index].extract_text()
        assert exhibit.captured_at.strftime("%Y-%m-%d %H:%M:%S UTC") in text
        assert exhibit.captured_local.strftime("%Y-%m-%d %H:%M:%S %z") in text
        assert exhibit.collector in text and exhibit.sha256 in text and exhibit.title in text
        for label in labels:
            assert label in text, (label, text)
        for event in exhibit.custody:
            assert event.leaf_hash in text


def _to_unicode(font) -> dict[bytes, str]:
    """code (2 bytes) -> text, from a font's ToUnicode CMap (bfchar/bfrange)."""
    data = font.ToUnicode.read_bytes().decode("latin-1")
    codes: dict[bytes, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", data, re.S):
        for code, text in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            codes[bytes.fromhex(code)] = bytes.fromhex(text).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", data, re.S):
        for low, high, text in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                codes[code.to_bytes(len(low) // 2, "big")] = chr(int(text, 16) + offset)
    return codes


def _glyphs_shown(pdf, page):
    """(font BaseFont, code, text from its ToUnicode) for every glyph a page's own content shows."""
    fonts = page.Resources.Font
    maps = {str(name): (str(font.BaseFont), _to_unicode(font)) for name, font in fonts.items()}
    current, shown = None, []
    for operands, operator in pikepdf.parse_content_stream(page):
        if str(operator) == "Tf":
            current = str(operands[0])
        elif str(operator) in ("Tj", "TJ") and current in maps:
            parts = operands[0] if str(operator) == "TJ" else [operands[0]]
            raw = b"".join(bytes(p) for p in parts if isinstance(p, pikepdf.String))
            base, codes = maps[current]
            shown += [(base, raw[i:i + 2], codes.get(raw[i:i + 2])) for i in range(0, len(raw), 2)]
    return shown


def test_exhibit_pages_use_embedded_fonts_and_real_glyphs(packet):
    """Every glyph on an exhibit page is in an embedded font, maps back to one character, and is never
    .notdef; Chinese characters come from Noto Sans CJK SC."""
    content, rendered = packet
    path, index = _exhibit_page(rendered, 1)
    with pikepdf.open(path) as pdf:
        page = pdf.pages[index]
        for _name, font in page.Resources.Font.items():
            descriptor = font.DescendantFonts[0].FontDescriptor
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), font.BaseFont
        shown = _glyphs_shown(pdf, page)
    assert len(shown) > 500
    assert all(code != b"\x00\x00" and text is not None and len(text) == 1 for _base, code, text in shown)
    chinese = [(base, text) for base, _code, text in shown if "\u4e00" <= text <= "\u9fff"]
    if content.language == "zh-CN":
        assert {"采", "集", "时", "间", "催", "收", "员"} <= {text for _base, text in chinese}
        assert all("CJK-SC" in base for base, _text in chinese), {base for base, _ in chinese}
    else:
        assert not chinese


def test_index_and_hash_appendix_hold_every_exhibit(packet):
    content, rendered = packet
    title = {"en": ("Exhibit index", "Hash appendix"), "zh-CN": ("证据目录", "哈希值附录")}[content.language]
    texts = _page_texts(rendered)
    for heading in title:
        index = next(i for i, text in enumerate(texts) if text.startswith(heading))
        shown = re.sub(r"\s+", "", "".join(texts[index:index + 2]))
        for exhibit in content.exhibits:
            if heading in ("Exhibit index", "证据目录"):
                assert re.sub(r"\s+", "", exhibit.title) in shown
            if heading != "证据目录":    # the zh-CN index has no hash column
                assert exhibit.sha256 in shown


def test_words_that_need_shaping_are_laid_out_with_the_rest(tmp_path):
    """A title in a script that needs shaping (Devanagari) is laid out by the same engine as the
    others, and every hash and range is there."""
    from dataclasses import replace

    from tests.legal_factories import with_exhibits
    content, _key = make_packet_content(tmp_path / "in", photos=3, pdf=False, audio=False, jurisdiction="IN")
    shaped = [replace(e, title="घर के दरवाज़े की फ़ोटो") if e.number == 2 else e for e in content.exhibits]
    content = with_exhibits(content, shaped)
    rendered = render_packet(content, tmp_path / "out")
    text = "\n".join(_page_texts(rendered))
    squeezed = re.sub(r"\s+", "", text)
    for exhibit in content.exhibits:
        first, last = rendered.exhibit_bates(exhibit.number)
        assert exhibit.sha256 in text and (first if first == last else f"{first}–{last}") in squeezed


@pytest.fixture(scope="module", params=[("en", "US-CA"), ("zh-CN", "CN")], ids=["en", "zh-CN"])
def split_packets(request, tmp_path_factory):
    language, jurisdiction = request.param
    return _render(tmp_path_factory, f"split-{language}", language=language, jurisdiction=jurisdiction, photos=5,
                   pdf=False, audio=False, max_volume_bytes=1_200_000)


def _cover_words(content, rendered, volume):
    numbers = [p.number for p in rendered.pagination.exhibits if p.volume == volume.number]
    words = render.labels(content)
    heading = str(words.volume_heading(volume.number, len(rendered.volumes), (numbers[0], numbers[-1])))
    return heading, [(str(words.case_reference), content.case.reference),
                     (str(words.first_page), bates_number(content.bates_prefix, volume.first))]


def test_volume_covers_have_their_words_and_bookmark(split_packets):
    """Volumes 2 on open with a cover: heading, case reference, first page's Bates number as
    extractable text; a bookmark to it; the volume still PDF/A-3b with its own file identifier."""
    content, rendered = split_packets
    assert len(rendered.volumes) >= 2
    ids = set()
    for volume in rendered.volumes[1:]:
        heading, rows = _cover_words(content, rendered, volume)
        cover = _texts(volume.path)[0]
        flat = re.sub(r"\s+", "", cover)
        for text in [heading] + [word for row in rows for word in row]:
            assert re.sub(r"\s+", "", text) in flat, (text, cover)
        assert bates_number(content.bates_prefix, volume.first) in cover
        with pikepdf.open(volume.path) as pdf:
            assert str(pdf.open_outline().root[0].title) == heading
            with pdf.open_metadata() as meta:
                assert meta.get(f"{PDF_NS}part") == "3"
            assert pdf.Root.OutputIntents[0].S == pikepdf.Name("/GTS_PDFA1")
            assert all(_font_files(pdf).values())
            ids.add(bytes(pdf.trailer.ID[0]))
            first_page_fonts = {str(f.BaseFont) for f in pdf.pages[0].Resources.Font.values()}
            if content.language == "zh-CN":
                assert any("CJK-SC" in name for name in first_page_fonts), first_page_fonts
    assert len(ids) == len(rendered.volumes) - 1


# --- PDF conformance findings (qpdf, poppler, pikepdf/fontTools) ------------------------------


def _font_programs(pdf):
    """(tag, font name, SHA-256 of the embedded program) of every font subset in a file."""
    found = set()
    for font in pdf.objects:
        if isinstance(font, pikepdf.Dictionary) and font.get("/Type") == pikepdf.Name.FontDescriptor:
            key = next((k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in font), None)
            name = str(font.FontName)[1:]
            if key is not None and "+" in name:
                tag, base = name.split("+", 1)
                found.add((tag, base, hashlib.sha256(font[key].read_bytes()).hexdigest()))
    return found


def test_font_subset_tags_are_unique_per_font_program(split_packets):
    """Volumes joined from several pieces: different subsets never share a tag (ISO 32000-1 §9.6.4)."""
    _content, rendered = split_packets
    for volume in rendered.volumes:
        with pikepdf.open(volume.path) as pdf:
            programs = _font_programs(pdf)
        by_tag = {}
        for tag, base, digest in programs:
            by_tag.setdefault((tag, base), set()).add(digest)
        assert programs and all(len(digests) == 1 for digests in by_tag.values()), by_tag


def _pdf_date(value: str):
    from datetime import datetime
    match = re.fullmatch(r"D:(\d{14})(Z|[+-]\d\d'\d\d'?)?", value)
    zone = (match.group(2) or "Z").replace("'", "")
    return datetime.strptime(match.group(1) + ("+0000" if zone == "Z" else zone), "%Y%m%d%H%M%S%z")


def test_info_and_xmp_dates_are_equal(tmp_path):
    """Info /CreationDate and /ModDate equal XMP CreateDate and ModifyDate, even when the packet was
    generated at a fraction of a second."""
    from dataclasses import replace
    from datetime import datetime

    content, _key = make_packet_content(tmp_path / "in", photos=1, pdf=False, audio=False)
    content = replace(content, generated_at=content.generated_at.replace(microsecond=654_321))
    rendered = render_packet(content, tmp_path / "out")
    xmp = "{http://ns.adobe.com/xap/1.0/}"
    with pikepdf.open(rendered.volumes[0].path) as pdf:
        with pdf.open_metadata() as meta:
            created, modified = meta.get(f"{xmp}CreateDate"), meta.get(f"{xmp}ModifyDate")
        assert created and modified
        assert _pdf_date(str(pdf.docinfo.CreationDate)) == datetime.fromisoformat(created)
        assert _pdf_date(str(pdf.docinfo.ModDate)) == datetime.fromisoformat(modified)


def test_the_same_packet_gives_the_same_bytes(tmp_path):
    """Volumes built twice from the same content are byte for byte the same: no random resource
    names, a fixed /ID."""
    content, _key = make_packet_content(tmp_path / "in", photos=3, note=True)
    first = render_packet(content, tmp_path / "first", max_volume_bytes=1_500_000)
    again = render_packet(content, tmp_path / "again", max_volume_bytes=1_500_000)
    assert len(first.volumes) >= 2
    assert [v.path.read_bytes() for v in first.volumes] == [v.path.read_bytes() for v in again.volumes]


def _words(path, page: int) -> list[tuple[float, float, float, str]]:
    """(xMin, yMin, xMax, word) on a page (1-based), from poppler's pdftotext -bbox."""
    import html
    import subprocess
    out = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(path), "-"],
                         capture_output=True, text=True, check=True).stdout
    return [(float(x0), float(y0), float(x1), html.unescape(word)) for x0, y0, x1, word in
            re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', out)]


def test_hash_appendix_header_sits_over_its_columns(packet):
    """By glyph positions in the PDF: the Bates range and SHA-256 headers start where their columns
    start, and the exhibit header ends where the right-aligned numbers end (CJK headers too)."""
    content, rendered = packet
    words = render.labels(content)
    title, short, bates_label = str(words.hash_appendix), str(words.exhibit_short), str(words.bates_range)
    volume = rendered.volumes[-1]
    page = next(i for i, text in enumerate(_texts(volume.path), 1) if text.startswith(title))
    found = _words(volume.path, page)
    row_range = next(w for w in found if w[3].startswith(rendered.exhibit_bates(1)[0]))
    row_hash = next(w for w in found if w[3] == content.exhibits[0].sha256)
    row_number = next(w for w in found if w[3] == "1" and abs(w[1] - row_range[1]) < 1)
    header_short = next(w for w in found if w[3] == short)
    header_range = next(w for w in found if w[3] == bates_label.split()[0])
    header_hash = next(w for w in found if w[3] == "SHA-256")
    assert abs(header_range[0] - row_range[0]) < 0.5, (header_range, row_range)
    assert abs(header_hash[0] - row_hash[0]) < 0.5, (header_hash, row_hash)
    assert abs(header_short[2] - row_number[2]) < 0.5, (header_short, row_number)


def test_every_volume_over_the_limit_is_warned(tmp_path):
    """Volumes of one exhibit that cannot fit the limit are named in the packet's warnings like any other."""
    content, _key = make_packet_content(tmp_path / "in", photos=3, pdf=False, audio=False)
    limit = 400_000                       # each photo is larger than this on its own
    rendered = render_packet(content, tmp_path / "out", max_volume_bytes=limit)
    over = [volume for volume in rendered.volumes if volume.size > limit]
    assert len(over) >= 3
    for volume in over:
        assert any(warning.startswith(f"volume {volume.number} is") and f"{limit}-byte limit" in warning
                   for warning in rendered.warnings), (volume.number, rendered.warnings)


def test_volumes_honour_the_limit_whenever_one_exhibit_fits(split_packets):
    """Chinese volumes too: their font subsets hold only the glyphs shown, so a volume carries its
    photos and little else; every glyph shown is in the embedded program, under its CID."""
    import io

    from fontTools.cffLib import CFFFontSet

    content, rendered = split_packets
    assert len(rendered.volumes) >= 2
    assert all(volume.size <= 1_200_000 for volume in rendered.volumes), [v.size for v in rendered.volumes]
    assert not [w for w in rendered.warnings if "limit" in w]
    with pikepdf.open(rendered.volumes[1].path) as pdf:
        page = pdf.pages[1]
        shown = _glyphs_shown(pdf, page)
        programs = {}
        for _name, font in page.Resources.Font.items():
            descriptor = font.DescendantFonts[0].FontDescriptor
            if "/FontFile3" in descriptor:
                assert descriptor.FontFile3.Subtype == pikepdf.Name.CIDFontType0C
                cff = CFFFontSet()
                cff.decompile(io.BytesIO(descriptor.FontFile3.read_bytes()), None)
                programs[str(font.BaseFont)] = cff[cff.fontNames[0]]
    if content.language == "zh-CN":
        assert programs
    for base, code, _text in shown:
        if base in programs:
            program = programs[base]
            name = f"cid{int.from_bytes(code, 'big'):05d}"
            assert name in program.charset, (base, name)
            charstring, _ = program.CharStrings.getItemAndSelector(name)
            charstring.decompile()
            assert len(charstring.program) > 1, (base, name)   # an outline, not an empty glyph


# --- exhibits that print their own numbers, laid out on a predicted first number ---------------


def _bates_words(path, page: int) -> list[tuple[float, float, str]]:
    """(xMin, yMin, word) of every Bates-number-like word on a page (1-based), by poppler."""
    return [(x0, y0, word) for x0, y0, _x1, word in _words(path, page) if re.fullmatch(r"FP\d{6}", word)]


def _long_exhibits(tmp_path):
    """Exhibits whose pages a guess from their structure gets wrong or only just right: a photo whose
    custody lines push the photo onto a second page, a long note, a PDF of two pages; in several
    volumes of chunks of two exhibits."""
    from dataclasses import replace

    from tests.legal_factories import with_exhibits
    content, _key = make_packet_content(tmp_path / "in", photos=6, note=True)
    note = tmp_path / "in" / "long-note.txt"
    note.write_text("".join(f"Visit note line {n}: the debtor was not at home; a card was left.\n"
                            for n in range(150)), "utf-8")
    changed = []
    for exhibit in content.exhibits:
        if exhibit.number == 2:
            exhibit = replace(exhibit, custody=exhibit.custody * 14)
        if exhibit.kind == "note":
            exhibit = replace(exhibit, path=note, size=note.stat().st_size,
                              sha256=hashlib.sha256(note.read_bytes()).hexdigest())
        changed.append(exhibit)
    return with_exhibits(content, changed)


@pytest.mark.parametrize(("guess", "workers"), [(None, 2), (1, 2), (3, 1)],
                         ids=["structure", "one-page", "three-pages-serial"])
def test_exhibit_numbers_are_right_whatever_the_prediction(tmp_path, monkeypatch, guess, workers):
    """Exhibit chunks print their own Bates numbers from a predicted first number; a wrong prediction
    (forced here, in workers and in one process) only makes them be laid out again. Every page of every
    volume carries its own number, once, continuous across volumes, in the same place; the packet is the
    same whatever was predicted."""
    content = _long_exhibits(tmp_path)
    monkeypatch.setattr(render, "CHUNK_EXHIBITS", 2)
    monkeypatch.setattr(render, "PARALLEL_MIN_EXHIBITS", 0)
    monkeypatch.setattr(render, "RENDER_WORKERS", workers)
    if guess is not None:
        monkeypatch.setattr(render, "_predicted_pages", lambda item: guess)
    rendered = render_packet(content, tmp_path / "out", max_volume_bytes=1_500_000)
    assert len(rendered.volumes) >= 2
    spans = {p.number: (p.first, p.last) for p in rendered.pagination.exhibits}
    assert spans[2][1] > spans[2][0]                      # the photo went onto a second page
    note = next(e.number for e in content.exhibits if e.kind == "note")
    assert spans[note][1] - spans[note][0] >= 2           # the note took three pages or more
    exhibit_pages = {n for first, last in spans.values() for n in range(first, last + 1)}
    expected, places = 1, set()
    for volume in rendered.volumes:
        assert volume.first == expected
        for page in range(1, volume.pages + 1):
            words = _bates_words(volume.path, page)
            number = bates_number("FP", expected)
            stamp = [(x, y) for x, y, word in words if word == number and y > 800]
            assert len(stamp) == 1, (volume.number, page, words)
            places.add(stamp[0])
            if expected in exhibit_pages:               # nothing else on an exhibit page looks like a number
                assert [word for _x, _y, word in words] == [number]
            expected += 1
        assert volume.last == expected - 1
    assert expected - 1 == rendered.pages and len(places) == 1
    if guess is not None:
        monkeypatch.undo()
        monkeypatch.setattr(render, "CHUNK_EXHIBITS", 2)
        monkeypatch.setattr(render, "RENDER_WORKERS", 1)
        reference = render_packet(content, tmp_path / "reference", max_volume_bytes=1_500_000)
        assert rendered.pagination == reference.pagination
        assert rendered.embedded_manifest == reference.embedded_manifest
        assert _page_texts(rendered) == _page_texts(reference)


def test_the_page_count_prediction_follows_the_exhibit(tmp_path):
    """From the structure: a photo is one page, a PDF one page per plate after its caption, a photo whose
    custody lines are many two pages; a long note more than one."""
    content = _long_exhibits(tmp_path)
    printed = {e.number: render._print_copy(e, tmp_path) for e in content.exhibits}
    kinds = {e.number: e.kind for e in content.exhibits}
    assert render._predicted_pages(printed[1]) == 1
    assert render._predicted_pages(printed[2]) == 2
    letter = next(n for n, k in kinds.items() if k == "document")
    assert render._predicted_pages(printed[letter]) == 1 + len(printed[letter].plates)
    note = next(n for n, k in kinds.items() if k == "note")
    assert render._predicted_pages(printed[note]) >= 3
