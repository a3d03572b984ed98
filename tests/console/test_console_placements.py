"""Console: placing a file (portfolio, mode, column map), following its progress, reading the
paged report and downloading it; in English and Chinese."""
from __future__ import annotations

import io

from tests.api.test_placements import csv_bytes, placing_desk, row


def place(console, portfolio_id, data: bytes, mode="valid_rows", columns=""):
    return console.post("/console/placements", {"portfolio_id": portfolio_id, "mode": mode, "columns": columns,
                                                 "file": (io.BytesIO(data), "bank-file.csv")},
                        content_type="multipart/form-data")


def test_a_supervisor_places_a_file_and_reads_the_report(app, console, client, factory):
    desk = placing_desk(client, factory)
    console.login(desk["supervisor"])
    form = client.get("/console/placements").get_data(as_text=True)
    assert 'id="placement-form"' in form and desk["portfolio_id"] in form and 'name="columns"' in form
    data = csv_bytes([row("CP-1"), row("CP-2", amount_overdue="12,50"), row("CP-3")])
    response = place(console, desk["portfolio_id"], data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    page_url = response.headers["Location"]
    placement_id = page_url.rstrip("/").rsplit("/", 1)[1]
    status = client.get(f"/console/placements/{placement_id}/status").get_json()
    assert status["status"] in ("queued", "running", "done") and "counts" in status
    assert app.extensions["fieldproof"].jobs.wait_idle()
    status = client.get(f"/console/placements/{placement_id}/status").get_json()
    assert status["status"] == "done" and status["progress"] == 1.0
    assert status["counts"]["accepted"] == 2 and status["counts"]["rejected"] == 1
    page = client.get(page_url).get_data(as_text=True)
    assert 'id="placement-done"' in page and 'id="placement-report"' in page and 'id="download-report"' in page
    assert "CP-1" in page and "amount_overdue" in page
    rejected = client.get(page_url, query_string={"result": "rejected"}).get_data(as_text=True)
    assert "CP-2" in rejected and "CP-1" not in rejected
    download = client.get(f"/console/placements/{placement_id}/report")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.get_data(as_text=True).splitlines()[0] == "row,reference,result,reasons"
    listed = client.get("/console/placements").get_data(as_text=True)
    assert placement_id in listed and "bank-file.csv" in listed


def test_the_report_is_paged(app, console, client, factory, monkeypatch):
    from api.console import placements as page_module

    monkeypatch.setattr(page_module, "REPORT_PAGE", 2)
    desk = placing_desk(client, factory)
    console.login(desk["supervisor"])
    response = place(console, desk["portfolio_id"], csv_bytes([row(f"PG-{n}") for n in range(1, 6)]), mode="validate")
    assert app.extensions["fieldproof"].jobs.wait_idle()
    url = response.headers["Location"]
    first = client.get(url).get_data(as_text=True)
    assert "PG-1" in first and "PG-2" in first and "PG-3" not in first and 'id="report-next"' in first
    last = client.get(url, query_string={"page": 3}).get_data(as_text=True)
    assert "PG-5" in last and "PG-4" not in last and 'id="report-next"' not in last and 'id="report-previous"' in last


def test_a_column_map_names_the_banks_headers(app, console, client, factory):
    desk = placing_desk(client, factory)
    console.login(desk["supervisor"])
    values = row("CM-1")
    values["Account No"] = values.pop("reference")
    header = ["Account No", *[h for h in values if h != "Account No"]]
    response = place(console, desk["portfolio_id"], csv_bytes([values], header=header),
                     columns="Account No = reference\n")
    assert response.status_code == 302
    assert app.extensions["fieldproof"].jobs.wait_idle()
    assert client.get(response.headers["Location"] + "/status").get_json()["counts"]["accepted"] == 1
    bad = place(console, desk["portfolio_id"], csv_bytes([row("CM-2")]), columns="Account No reference")
    assert bad.status_code == 422 and "their header = our column" in bad.get_data(as_text=True)
    unknown = place(console, desk["portfolio_id"], csv_bytes([row("CM-2")]), columns="Account No = account")
    assert unknown.status_code == 422


def test_without_a_file_or_with_a_bad_mode_nothing_is_placed(app, console, client, factory):
    desk = placing_desk(client, factory)
    console.login(desk["supervisor"])
    missing = console.post("/console/placements", {"portfolio_id": desk["portfolio_id"], "mode": "validate"},
                           content_type="multipart/form-data")
    assert missing.status_code == 422
    assert place(console, desk["portfolio_id"], csv_bytes([row("BM-1")]), mode="everything").status_code == 422
    assert "bank-file.csv" not in client.get("/console/placements").get_data(as_text=True)


def test_the_placement_pages_in_chinese(app, console, client, factory):
    desk = placing_desk(client, factory)
    console.login(desk["supervisor"])
    console.post("/console/language", {"locale": "zh_CN", "next": "/console/placements"})
    form = client.get("/console/placements").get_data(as_text=True)
    assert "投放文件" in form and "Place the file" not in form
    response = place(console, desk["portfolio_id"], csv_bytes([row("ZH-1")]))
    assert app.extensions["fieldproof"].jobs.wait_idle()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "下载报告" in page and "已接受" in page
