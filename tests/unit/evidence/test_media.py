"""Media sniffing against a hostile corpus generated here (nothing is downloaded)."""
from __future__ import annotations

import io
import struct
import wave
import zipfile
import zlib

import pytest
from PIL import Image

from evidence import media
from evidence.errors import (
    CorruptMedia,
    EvidenceRejected,
    MaliciousContent,
    MediaMismatch,
    UnsupportedMediaType,
)
from evidence.media import (
    MediaType,
    check_declared_kind,
    refuse_hidden_content,
    screen_media,
    sniff_media_type,
)

# --- corpus factories ---------------------------------------------------------------------


def jpeg_bytes(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def png_bytes(size=(32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 30, 128)).save(out, "PNG")
    return out.getvalue()


def wav_bytes(frames: int = 800) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * frames)
    return out.getvalue()


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    return box(b"ftyp", major + b"\x00\x00\x02\x00" + b"".join(compatible))


def trak(handler: bytes) -> bytes:
    hdlr = box(b"hdlr", b"\x00" * 4 + b"\x00" * 4 + handler + b"\x00" * 12 + b"name\x00")
    mdia = box(b"mdia", box(b"mdhd", b"\x00" * 24) + hdlr)
    return box(b"trak", box(b"tkhd", b"\x00" * 84) + mdia)


def iso_media(major: bytes, compatible: tuple[bytes, ...], handlers: tuple[bytes, ...],
              moov_last: bool = False) -> bytes:
    moov = box(b"moov", box(b"mvhd", b"\x00" * 100) + b"".join(trak(h) for h in handlers))
    mdat = box(b"mdat", b"\x00\x11" * 500)
    body = mdat + moov if moov_last else moov + mdat
    return ftyp(major, *compatible) + body


def m4a_bytes() -> bytes:
    return iso_media(b"M4A ", (b"M4A ", b"mp42", b"isom"), (b"soun",))


def mp4_bytes(handlers=(b"vide", b"soun"), moov_last=False) -> bytes:
    return iso_media(b"isom", (b"isom", b"iso2", b"avc1", b"mp41"), handlers, moov_last)


def pdf_bytes(*objects: bytes) -> bytes:
    body = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    base = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    for number, obj in enumerate(base + list(objects), start=1):
        body.append(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    body.append(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
    return b"".join(body)


def flate_stream(content: bytes, entries: bytes = b"") -> bytes:
    packed = zlib.compress(content)
    head = b"<< %s/Length %d /Filter /FlateDecode >>\nstream\n" % (entries, len(packed))
    return head + packed + b"\nendstream"


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.exe", b"MZ" + b"\x90" * 200)
    return out.getvalue()


@pytest.fixture
def write(tmp_path):
    counter = iter(range(10_000))

    def _write(data: bytes, name: str = "upload.bin"):
        path = tmp_path / f"{next(counter)}-{name}"
        path.write_bytes(data)
        return path

    return _write


# --- positives ----------------------------------------------------------------------------

@pytest.mark.parametrize("factory, expected", [
    (jpeg_bytes, MediaType.JPEG),
    (png_bytes, MediaType.PNG),
    (wav_bytes, MediaType.WAV),
    (m4a_bytes, MediaType.M4A),
    (mp4_bytes, MediaType.MP4),
    (lambda: mp4_bytes(moov_last=True), MediaType.MP4),
    (lambda: iso_media(b"mp42", (b"isom", b"mp42"), (b"soun",)), MediaType.M4A),
    (lambda: pdf_bytes(), MediaType.PDF),
])
def test_allowed_formats_are_recognised(write, factory, expected):
    path = write(factory())
    assert sniff_media_type(path) is expected
    refuse_hidden_content(path, expected)


def test_wav_with_odd_data_and_pad_byte(write):
    data = wav_bytes(frames=0)
    riff = bytearray(data[:12])
    body = data[12:] + b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"
    riff[4:8] = struct.pack("<I", 4 + len(body))
    assert sniff_media_type(write(bytes(riff) + body)) is MediaType.WAV


# --- refusals: not an allowed type ----------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"",
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200,
    b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
    b"<!DOCTYPE html><script>alert(1)</script>",
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"GIF89a" + b"\x00" * 50,
    b"PK\x03\x04" + b"\x00" * 50,
    b"   %PDF-1.7\n",
    b"\xff\xd8",
    ftyp(b"qt  ", b"qt  ") + box(b"mdat"),
    ftyp(b"heic", b"mif1", b"heic") + box(b"meta"),
    ftyp(b"3gp4", b"3gp4") + box(b"mdat"),
    b"RIFF\x24\x00\x00\x00AVI LIST",
])
def test_other_bytes_are_unsupported(write, data):
    with pytest.raises(UnsupportedMediaType) as caught:
        sniff_media_type(write(data, "evidence.jpg"))
    assert caught.value.code == "unsupported_media_type"


def test_executable_named_jpg_is_refused_by_screen(write):
    path = write(b"MZ\x90\x00" + b"\x00" * 512, "photo.jpg")
    with pytest.raises(UnsupportedMediaType):
        screen_media(path, "photo")


# --- refusals: structurally broken containers ----------------------------------------------

@pytest.mark.parametrize("data", [
    mp4_bytes() + b"trailing garbage",
    mp4_bytes()[:-10],
    ftyp(b"isom", b"isom") + box(b"mdat", b"\x00" * 64),
    ftyp(b"isom", b"isom") + box(b"moov", box(b"mvhd", b"\x00" * 100)),
    ftyp(b"isom", b"isom") + struct.pack(">I4s", 0xFFFFFFF0, b"moov"),
    ftyp(b"isom", b"isom") + struct.pack(">I4sQ", 1, b"mdat", 2**62),
    ftyp(b"isom", b"isom") + struct.pack(">I4s", 3, b"free"),
    struct.pack(">I4s", 9, b"ftyp") + b"isom",
    wav_bytes()[:-5],
    wav_bytes() + b"PAYLOAD",
    b"RIFF" + struct.pack("<I", 4) + b"WAVE",
    b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dJUNK" + b"\x00" * 20,
])
def test_broken_containers_are_corrupt(write, data):
    with pytest.raises(CorruptMedia):
        sniff_media_type(write(data))


def test_box_walk_is_bounded(write):
    data = mp4_bytes()
    data += box(b"free") * 10
    assert sniff_media_type(write(data)) is MediaType.MP4


# --- declared kind ------------------------------------------------------------------------

@pytest.mark.parametrize("kind, media_type", [
    ("photo", MediaType.JPEG), ("photo", MediaType.PNG),
    ("audio", MediaType.WAV), ("audio", MediaType.M4A), ("audio", MediaType.MP4),
    ("document", MediaType.PDF),
])
def test_kind_accepts_its_media(kind, media_type):
    check_declared_kind(kind, media_type)


@pytest.mark.parametrize("kind, media_type", [
    ("photo", MediaType.PDF), ("photo", MediaType.MP4), ("photo", MediaType.WAV),
    ("audio", MediaType.JPEG), ("audio", MediaType.PDF),
    ("document", MediaType.JPEG), ("document", MediaType.M4A),
    ("video", MediaType.MP4), ("", MediaType.JPEG),
])
def test_kind_refuses_other_media(kind, media_type):
    with pytest.raises(MediaMismatch):
        check_declared_kind(kind, media_type)


def test_silent_video_is_not_audio(write):
    check_declared_kind("audio", MediaType.MP4, has_sound=True)
    with pytest.raises(MediaMismatch):
        check_declared_kind("audio", MediaType.MP4, has_sound=False)
    with pytest.raises(MediaMismatch):
        screen_media(write(mp4_bytes(handlers=(b"vide",))), "audio")
    assert screen_media(write(mp4_bytes()), "audio") is MediaType.MP4


@pytest.mark.parametrize("factory, kind", [
    (jpeg_bytes, "document"), (pdf_bytes, "photo"), (png_bytes, "audio"), (wav_bytes, "photo"),
])
def test_screen_refuses_a_disguised_kind(write, factory, kind):
    with pytest.raises(MediaMismatch):
        screen_media(write(factory()), kind)


# --- polyglots ----------------------------------------------------------------------------

@pytest.mark.parametrize("factory, kind", [
    (jpeg_bytes, "photo"), (png_bytes, "photo"), (pdf_bytes, "document"),
])
def test_zip_appended_is_malicious(write, factory, kind):
    path = write(factory() + zip_bytes())
    with pytest.raises(MaliciousContent) as caught:
        screen_media(path, kind)
    assert isinstance(caught.value, EvidenceRejected)
    assert caught.value.code == "malicious_content"


def test_zip_with_comment_appended_is_malicious(write):
    archive = bytearray(zip_bytes())
    comment = b"x" * 300
    archive[-2:] = struct.pack("<H", len(comment))
    with pytest.raises(MaliciousContent):
        refuse_hidden_content(write(jpeg_bytes() + bytes(archive) + comment), MediaType.JPEG)


def test_stray_eocd_signature_in_image_data_is_not_a_zip(write):
    data = jpeg_bytes()
    data = data[:-2] + b"PK\x05\x06" + b"\x00" * 8 + b"\xff\xd9"
    refuse_hidden_content(write(data), MediaType.JPEG)


# --- active PDF content -------------------------------------------------------------------

@pytest.mark.parametrize("extra, name", [
    (b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>", "/JavaScript"),
    (b"<< /OpenAction << /S /JS (x) >> >>", "/JS"),
    (b"<< /Type /Action /S /Launch /F (cmd.exe) >>", "/Launch"),
    (b"<< /Names << /EmbeddedFiles 9 0 R >> >>", "/EmbeddedFiles"),
    (b"<< /Type /EmbeddedFile /Length 3 >>", "/EmbeddedFile"),
    (b"<< /S /J#61vaScript /JS (x) >>", "/JavaScript"),
    (b"<< /S/JS(x)>>", "/JS"),
])
def test_pdf_active_content_is_refused(write, extra, name):
    with pytest.raises(MaliciousContent) as caught:
        screen_media(write(pdf_bytes(extra)), "document")
    assert caught.value.context["pdf_name"] == name


def test_pdf_javascript_hidden_in_a_flate_object_stream(write):
    hidden = flate_stream(b"4 0 << /S /JavaScript /JS (app.alert\\(1\\)) >>",
                          b"/Type /ObjStm /N 1 /First 4 ")
    with pytest.raises(MaliciousContent):
        screen_media(write(pdf_bytes(hidden)), "document")


def test_pdf_benign_names_that_start_alike_pass(write):
    data = pdf_bytes(
        b"<< /JSON 1 /JSX 2 /Launcher 3 /EmbeddedFont 4 >>",
        flate_stream(b"BT /F1 12 Tf (JavaScript is only text here) Tj ET"),
        b"<< /Length 5 >>\nstream\n\x00\x01\x02\x03\x04\nendstream",
    )
    assert screen_media(write(data), "document") is MediaType.PDF


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 11, 16, 64])
def test_pdf_scan_finds_names_across_chunk_boundaries(write, monkeypatch, chunk):
    monkeypatch.setattr(media, "SCAN_CHUNK", chunk)
    raw = write(pdf_bytes(b"<< /S /Launch /F (x) >>"))
    with pytest.raises(MaliciousContent):
        refuse_hidden_content(raw, MediaType.PDF)
    packed = write(pdf_bytes(flate_stream(b"<< /S /JavaScript >>")))
    with pytest.raises(MaliciousContent):
        refuse_hidden_content(packed, MediaType.PDF)


def test_pdf_inflate_budget_bounds_work(write, monkeypatch):
    monkeypatch.setattr(media, "PDF_INFLATE_BUDGET", 1000)
    data = pdf_bytes(flate_stream(b"\x00" * 100_000 + b"/JavaScript "))
    assert screen_media(write(data), "document") is MediaType.PDF


def test_pdf_scan_reads_in_bounded_chunks(write, monkeypatch):
    reads = []
    path = write(pdf_bytes(b"<< /Length 0 >>", b"%" + b"a" * 3_000_000))

    real_open = open

    class Spy:
        def __init__(self, f):
            self._f = f

        def read(self, n=-1):
            reads.append(n)
            return self._f.read(n)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    monkeypatch.setattr(media, "open", lambda p, mode="r": Spy(real_open(p, mode)), raising=False)
    refuse_hidden_content(path, MediaType.PDF)
    assert reads and all(0 < n <= media.SCAN_CHUNK for n in reads if n != -1)
