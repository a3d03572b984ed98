"""Reading a placement file row by row in bounded memory: CSV (UTF-8, with or without BOM) or
XLSX (openpyxl in read-only mode, after the archive is checked for a zip bomb)."""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

COLUMNS = ("reference", "debtor_name", "national_id", "phone", "card_last4", "currency", "amount_overdue",
           "days_past_due", "jurisdiction", "home_line", "home_city", "home_country", "home_lat", "home_lon",
           "work_line", "work_city", "work_country", "work_lat", "work_lon", "action")
MAX_CELL_CHARS = 1000
# An XLSX is a zip: refuse archives that would inflate past this, or inflate suspiciously well.
MAX_XLSX_UNCOMPRESSED = 512 * 1024 * 1024
MAX_XLSX_RATIO = 200
MAX_XLSX_MEMBERS = 10_000


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (encoding, format, bomb, header): nothing is imported."""


def sniff_kind(path: Path, file_name: str) -> str:
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if file_name.lower().endswith((".xlsx", ".xlsm")):
        raise UnreadableFile("the file is named .xlsx but is not an XLSX workbook")
    return "csv"


def check_xlsx_archive(path: Path) -> None:
    """Refuse a zip bomb before openpyxl inflates anything: total size, member count, ratio."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise UnreadableFile("the XLSX file is not a valid zip archive") from None
    if len(members) > MAX_XLSX_MEMBERS:
        raise UnreadableFile("the XLSX archive has too many members")
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise UnreadableFile(f"the XLSX would inflate to {total} bytes; at most {MAX_XLSX_UNCOMPRESSED} are read")
    for member in members:
        if member.file_size > 1024 * 1024 and member.file_size > MAX_XLSX_RATIO * max(member.compress_size, 1):
            raise UnreadableFile("the XLSX archive compresses implausibly well (a zip bomb?)")


def _header(cells: list, column_map: dict[str, str]) -> list[str | None]:
    """Our column name for each header cell (None: a column we do not read)."""
    names = []
    for raw in cells:
        text = "" if raw is None else str(raw).strip()
        name = column_map.get(text, text).strip().lower()
        names.append(name if name in COLUMNS else None)
    if "reference" not in names:
        raise UnreadableFile("the header has no reference column (use the column map for your own names)")
    seen = [n for n in names if n]
    if len(seen) != len(set(seen)):
        raise UnreadableFile("a column appears twice in the header")
    return names


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()[:MAX_CELL_CHARS + 1]


def read_rows(path: Path, kind: str, column_map: dict[str, str]) -> Iterator[tuple[int, dict[str, str], float]]:
    """(data row number from 1, the row by our column names, fraction of the file read); empty rows
    are skipped but keep their numbers, so numbers match what the creditor sees in their sheet."""
    if kind == "xlsx":
        yield from _xlsx_rows(path, column_map)
    else:
        yield from _csv_rows(path, column_map)


def _csv_rows(path: Path, column_map: dict[str, str]):
    size = max(path.stat().st_size, 1)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        try:
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                raise UnreadableFile("the file is empty")
            names = _header(header, column_map)
            for number, cells in enumerate(reader, start=1):
                if not any(c.strip() for c in cells):
                    continue
                row = {name: _text(value) for name, value in zip(names, cells, strict=False) if name}
                yield number, row, min(raw.tell() / size, 1.0)
        except UnicodeDecodeError:
            raise UnreadableFile("the file is not UTF-8 text: save it as CSV UTF-8 (or as XLSX)") from None
        except csv.Error as error:
            raise UnreadableFile(f"the CSV cannot be read: {error}") from None


def _xlsx_rows(path: Path, column_map: dict[str, str]):
    from openpyxl import load_workbook

    check_xlsx_archive(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - any parse failure of the workbook is the file's fault
        raise UnreadableFile(f"the XLSX workbook cannot be read ({type(error).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise UnreadableFile("the first sheet is empty")
        names = _header(list(header), column_map)
        total = max((sheet.max_row or 1) - 1, 1)
        for number, cells in enumerate(rows, start=1):
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            yield number, {name: _text(value) for name, value in zip(names, cells, strict=False) if name}, \
                min(number / total, 1.0)
    finally:
        workbook.close()
