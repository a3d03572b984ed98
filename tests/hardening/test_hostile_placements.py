"""Hostile placement files: each is a clear report or a 4xx, nothing half-imported, memory bounded."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from cases.models import Case
from tests.api.test_placements import HEADER, csv_bytes, place, placing_desk, report, row
from tests.hardening.memory import rss_growth


@pytest.fixture
def desk(client, factory):
    return placing_desk(client, factory)


def case_count(app) -> int:
    with app.extensions["fieldproof"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Case))


def test_a_file_not_in_utf8_fails_whole_with_the_reason(app, client, desk):
    data = csv_bytes([row("ENC-1", debtor_name="王芳")]).decode().encode("gb18030")
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], data)
    assert placement["status"] == "failed" and "not UTF-8" in placement["error"]
    assert case_count(app) == 0


def test_a_byte_order_mark_is_not_part_of_the_first_header(app, client, desk):
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], csv_bytes([row("BOM-1")], bom=True))
    assert placement["counts"]["accepted"] == 1


def test_a_header_without_reference_fails_whole(app, client, desk):
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], b"name,amount\nx,1\n")
    assert placement["status"] == "failed" and "reference" in placement["error"]


def test_a_million_empty_rows_are_skipped_in_bounded_memory(app, client, desk):
    empty = b",,,,,,,,,,,,,\n" * 1_000_000
    data = csv_bytes([row("EMPTY-1")]) + empty + csv_bytes([row("EMPTY-2")]).split(b"\n", 1)[1]
    with rss_growth() as growth:
        placement = place(client, app, desk["supervisor"], desk["portfolio_id"], data)
    assert placement["status"] == "done", placement
    assert placement["counts"]["accepted"] == 2
    assert [r["row"] for r in report(client, desk["supervisor"], placement)] == ["1", "1000002"]
    assert growth.peak_growth_mb < 100


def test_a_zip_bomb_named_xlsx_is_refused_before_it_is_inflated(app, client, desk):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (32 * 1024 * 1024))
    with rss_growth() as growth:
        placement = place(client, app, desk["supervisor"], desk["portfolio_id"], bomb.getvalue(), name="accounts.xlsx")
    assert placement["status"] == "failed" and "zip bomb" in placement["error"]
    assert growth.peak_growth_mb < 64


def test_a_file_named_xlsx_that_is_not_one_is_422(client, desk):
    response = client.post(f"/api/v1/portfolios/{desk['portfolio_id']}/placements",
                           data={"file": (io.BytesIO(b"reference\nX\n"), "accounts.xlsx")},
                           headers=desk["supervisor"].headers, content_type="multipart/form-data")
    assert response.status_code == 422 and response.get_json()["errors"]["file"]


def test_an_xlsx_is_read_like_the_csv(app, client, desk):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    values = row("XL-1")
    sheet.append([float(values[h]) if h in ("home_lat", "home_lon") else values[h] for h in HEADER])
    sheet.append([None] * len(HEADER))
    sheet.append([values[h] if h != "reference" else "XL-2" for h in HEADER])
    sheet.append([values[h] if h != "amount_overdue" else "1.2.3" for h in HEADER])
    out = io.BytesIO()
    book.save(out)
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], out.getvalue(), name="a.xlsx",
                      mode="valid_rows")
    assert placement["counts"] == {"accepted": 2, "updated": 0, "unchanged": 0, "recalled": 0, "rejected": 1}
    results = report(client, desk["supervisor"], placement)
    assert [(r["row"], r["result"]) for r in results] == [("1", "accepted"), ("3", "accepted"), ("4", "rejected")]
    assert "duplicate" in results[2]["reasons"] or "amount_overdue" in results[2]["reasons"]


def test_bad_decimals_coordinates_and_duplicates_leave_nothing_in_all_or_nothing(app, client, desk):
    rows = [row("BAD-1"), row("BAD-2", amount_overdue="1e5"), row("BAD-3", home_lat="north"),
            row("BAD-4", home_lon="200"), row("BAD-5", days_past_due="12.5"), row("BAD-1")]
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], csv_bytes(rows))
    assert placement["status"] == "failed" and placement["counts"]["rejected"] == 5
    assert case_count(app) == 0
    reasons = [r["reasons"] for r in report(client, desk["supervisor"], placement)]
    assert reasons[0] == "" and all(reasons[1:])
    assert "110101199003071234" not in "".join(reasons)  # identity numbers never copied into a report
