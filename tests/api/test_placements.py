"""Placement files through the API: import, report, re-placement, recall, modes, and the wall."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from cases.models import Case, CaseEvent

HEADER = ["reference", "debtor_name", "national_id", "phone", "card_last4", "currency", "amount_overdue",
          "days_past_due", "jurisdiction", "home_line", "home_city", "home_country", "home_lat", "home_lon"]


def row(ref: str, **over) -> dict:
    values = {"reference": ref, "debtor_name": "Wang Fang", "national_id": "110101199003071234",
              "phone": "+86 139 1234 5678", "card_last4": "9876", "currency": "CNY", "amount_overdue": "5000.00",
              "days_past_due": "60", "jurisdiction": "CN", "home_line": "1 Nanjing Road", "home_city": "Shanghai",
              "home_country": "CN", "home_lat": "31.2304", "home_lon": "121.4737"}
    values.update(over)
    return values


def csv_bytes(rows: list[dict], header=HEADER, bom=False) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


@pytest.fixture
def desk(client, factory):
    return placing_desk(client, factory)


def placing_desk(client, factory) -> dict:
    """A supervisor and an admin of the default creditor, and its portfolio."""
    admin = factory.user("admin")
    portfolio = client.get("/api/v1/creditors", headers=admin.headers).get_json()[0]
    portfolios = client.get(f"/api/v1/creditors/{portfolio['id']}/portfolios", headers=admin.headers).get_json()
    return {"supervisor": factory.user("supervisor"), "admin": admin, "portfolio_id": portfolios[0]["id"],
            "creditor_id": portfolio["id"]}


def place(client, app, user, portfolio_id, data: bytes, mode="all_or_nothing", name="accounts.csv", columns=None):
    form = {"file": (io.BytesIO(data), name), "mode": mode}
    if columns is not None:
        import json
        form["columns"] = json.dumps(columns)
    response = client.post(f"/api/v1/portfolios/{portfolio_id}/placements", data=form, headers=user.headers,
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    assert app.extensions["fieldproof"].jobs.wait_idle()
    placement = client.get(f"/api/v1/placements/{response.get_json()['id']}", headers=user.headers).get_json()
    return placement


def report(client, user, placement) -> list[dict]:
    response = client.get(f"/api/v1/placements/{placement['id']}/report", headers=user.headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def counts(app):
    with app.extensions["fieldproof"].db.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Case)),
                session.scalar(select(func.count()).select_from(CaseEvent)))


def test_a_file_is_imported_and_the_same_file_again_changes_nothing(app, client, desk):
    sup = desk["supervisor"]
    data = csv_bytes([row("PL-1"), row("PL-2"), row("PL-3", national_id="")], bom=True)
    first = place(client, app, sup, desk["portfolio_id"], data)
    assert first["status"] == "done" and first["progress"] == 1.0
    assert first["counts"] == {"accepted": 3, "updated": 0, "unchanged": 0, "recalled": 0, "rejected": 0}
    listed = client.get("/api/v1/cases", headers=sup.headers, query_string={"portfolio_id": desk["portfolio_id"]})
    cases = {c["reference"]: c for c in listed.get_json()}
    assert set(cases) == {"PL-1", "PL-2", "PL-3"}
    assert cases["PL-1"]["debtor"]["national_id"].endswith("1234") and "1101" not in cases["PL-1"]["debtor"]["national_id"]
    assert cases["PL-1"]["portfolio_id"] == desk["portfolio_id"]
    before = counts(app)
    again = place(client, app, sup, desk["portfolio_id"], data)
    assert again["counts"] == {"accepted": 0, "updated": 0, "unchanged": 3, "recalled": 0, "rejected": 0}
    assert counts(app) == before
    assert [r["result"] for r in report(client, sup, again)] == ["unchanged"] * 3


def test_an_update_and_a_recall_show_on_the_timeline(app, client, desk):
    sup = desk["supervisor"]
    place(client, app, sup, desk["portfolio_id"], csv_bytes([row("UP-1"), row("UP-2")]))
    changed = csv_bytes([row("UP-1", amount_overdue="4200.50", days_past_due="75"), row("UP-2", action="recall")],
                        header=[*HEADER, "action"])
    placement = place(client, app, sup, desk["portfolio_id"], changed)
    assert placement["counts"]["updated"] == 1 and placement["counts"]["recalled"] == 1
    cases = {c["reference"]: c for c in client.get("/api/v1/cases", headers=sup.headers).get_json()}
    assert cases["UP-1"]["amount_overdue"] == "4200.50" and cases["UP-1"]["days_past_due"] == 75
    assert cases["UP-2"]["status"] == "closed"
    events = client.get(f"/api/v1/cases/{cases['UP-1']['id']}/timeline", headers=sup.headers).get_json()
    update = [e for e in events if e["type"] == "case_updated"][-1]
    assert update["details"]["changed"] == ["amount_overdue", "days_past_due"]
    assert update["details"]["placement_id"] == placement["id"]
    events = client.get(f"/api/v1/cases/{cases['UP-2']['id']}/timeline", headers=sup.headers).get_json()
    assert "case_recalled" in {e["type"] for e in events}


def test_modes_all_or_nothing_valid_rows_and_validate(app, client, desk):
    sup = desk["supervisor"]
    rows = [row("MO-1"), row("MO-2", amount_overdue="12,50"), row("MO-3", home_lat="91"), row("MO-1")]
    data = csv_bytes(rows)
    before = counts(app)
    strict = place(client, app, sup, desk["portfolio_id"], data)
    assert strict["status"] == "failed" and "nothing was imported" in strict["error"]
    assert counts(app) == before
    results = report(client, sup, strict)
    assert [(r["row"], r["result"]) for r in results] == [("1", "accepted"), ("2", "rejected"), ("3", "rejected"),
                                                          ("4", "rejected")]
    assert "amount_overdue" in results[1]["reasons"] and "home" not in results[1]["reasons"]
    assert "lat" in results[2]["reasons"] and "duplicate of row 1" in results[3]["reasons"]
    dry = place(client, app, sup, desk["portfolio_id"], data, mode="validate")
    assert dry["status"] == "done" and dry["counts"]["accepted"] == 1 and counts(app) == before
    some = place(client, app, sup, desk["portfolio_id"], data, mode="valid_rows")
    assert some["status"] == "done" and some["counts"]["accepted"] == 1 and some["counts"]["rejected"] == 3
    assert counts(app)[0] == before[0] + 1


def test_a_column_map_reads_the_creditors_own_headers(app, client, desk):
    sup = desk["supervisor"]
    header = ["Account No", *HEADER[1:]]
    data = csv_bytes([{"Account No": "MAP-1", **{k: v for k, v in row("x").items() if k != "reference"}}],
                     header=header)
    placement = place(client, app, sup, desk["portfolio_id"], data, columns={"Account No": "reference"})
    assert placement["counts"]["accepted"] == 1


def test_formula_cells_are_kept_as_text_and_escaped_in_the_report(app, client, desk):
    sup = desk["supervisor"]
    data = csv_bytes([row("FX-1", debtor_name="=HYPERLINK(\"http://x\")", currency="=1+1")])
    placement = place(client, app, sup, desk["portfolio_id"], data, mode="valid_rows")
    assert placement["counts"]["rejected"] == 1  # the currency is not one
    raw = client.get(f"/api/v1/placements/{placement['id']}/report", headers=sup.headers).get_data(as_text=True)
    assert "\n1,FX-1,rejected," in raw
    data = csv_bytes([row("=cmd|calc", currency="CNY")])
    placement = place(client, app, sup, desk["portfolio_id"], data, mode="valid_rows")
    raw = client.get(f"/api/v1/placements/{placement['id']}/report", headers=sup.headers).get_data(as_text=True)
    assert "'=cmd|calc" in raw and "\n1,=cmd" not in raw


def test_placements_are_walled_by_creditor_and_role(app, client, factory, desk):
    admin = desk["admin"]
    other = client.post("/api/v1/creditors", json={"code": "BANK-Z", "name": "Bank Z"}, headers=admin.headers)
    their_portfolio = client.post(f"/api/v1/creditors/{other.get_json()['id']}/portfolios",
                                  json={"code": "Z1", "name": "Z"}, headers=admin.headers).get_json()["id"]
    ours = place(client, app, desk["supervisor"], desk["portfolio_id"], csv_bytes([row("WA-1")]))
    stranger = factory.user("supervisor", creditors=[other.get_json()["id"]])
    assert client.get(f"/api/v1/placements/{ours['id']}", headers=stranger.headers).status_code == 404
    assert client.get(f"/api/v1/placements/{ours['id']}/report", headers=stranger.headers).status_code == 404
    response = client.post(f"/api/v1/portfolios/{desk['portfolio_id']}/placements", headers=stranger.headers,
                           data={"file": (io.BytesIO(csv_bytes([row("WA-2")])), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 404
    collector = factory.user("collector")
    response = client.post(f"/api/v1/portfolios/{their_portfolio}/placements", headers=collector.headers,
                           data={"file": (io.BytesIO(b"reference\n"), "a.csv")}, content_type="multipart/form-data")
    assert response.status_code == 403
    # a reference placed in one portfolio is not taken over by a file for another
    admin_place = place(client, app, admin, their_portfolio, csv_bytes([row("WA-1")]), mode="valid_rows")
    assert admin_place["counts"]["rejected"] == 1


def test_the_status_export_tells_the_creditor_per_case(app, client, factory, desk):
    from datetime import timedelta

    from core.clock import utcnow
    from visits.models import Visit

    sup = desk["supervisor"]
    place(client, app, sup, desk["portfolio_id"], csv_bytes([row("ST-1"), row("ST-2", debtor_name="=1+1")]))
    cases = {c["reference"]: c for c in client.get("/api/v1/cases", headers=sup.headers).get_json()}
    collector = factory.user("collector")
    now = utcnow()
    with app.extensions["fieldproof"].db.transaction() as session:
        address = cases["ST-1"]["addresses"][0]["id"]
        session.add(Visit(case_id=cases["ST-1"]["id"], address_id=address, collector_id=collector.id,
                          window_start=now - timedelta(hours=2), window_end=now - timedelta(hours=1),
                          time_zone="Asia/Shanghai", local_date=now.date(), status="completed",
                          outcome="met_debtor", checked_out_at=now - timedelta(hours=1), scheduled_by=sup.id))
    response = client.get(f"/api/v1/portfolios/{desk['portfolio_id']}/status-export", headers=sup.headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = {r["reference"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    assert set(rows) == {"ST-1", "ST-2"}
    assert rows["ST-1"]["visits_completed"] == "1" and rows["ST-1"]["contacts_with_debtor"] == "1"
    assert rows["ST-1"]["last_outcome"] == "met_debtor" and rows["ST-2"]["visits_scheduled"] == "0"
    assert rows["ST-2"]["legal_referral"] == "no"
    stranger = factory.user("supervisor", creditors=[])
    assert client.get(f"/api/v1/portfolios/{desk['portfolio_id']}/status-export",
                      headers=stranger.headers).status_code == 404
    assert client.get(f"/api/v1/portfolios/{desk['portfolio_id']}/status-export",
                      headers=factory.user("legal").headers).status_code == 403


def test_a_placed_case_is_stored_as_post_cases_stores_it(app, client, factory, desk):
    """Guards the batched INSERT path: a placed case reads back like the same case opened by the API."""
    sup = desk["supervisor"]
    place(client, app, sup, desk["portfolio_id"], csv_bytes([row("SAME-1")]))
    body = {"reference": "SAME-2", "portfolio_id": desk["portfolio_id"],
            "debtor": {"name": "Wang Fang", "national_id": "110101199003071234", "phone": "+86 139 1234 5678"},
            "card_last4": "9876", "currency": "CNY", "amount_overdue": "5000.00", "days_past_due": 60,
            "jurisdiction": "CN", "addresses": [{"kind": "home", "line": "1 Nanjing Road", "city": "Shanghai",
                                                 "country": "CN", "lat": 31.2304, "lon": 121.4737}]}
    assert client.post("/api/v1/cases", json=body, headers=sup.headers).status_code == 201
    cases = {c["reference"]: c for c in client.get("/api/v1/cases", headers=sup.headers).get_json()}

    def comparable(case):
        drop = {"id", "reference", "created_at", "updated_at"}
        out = {k: v for k, v in case.items() if k not in drop}
        out["addresses"] = [{k: v for k, v in a.items() if k not in {"id"}} for a in case["addresses"]]
        return out

    assert comparable(cases["SAME-1"]) == comparable(cases["SAME-2"])
    from cases.services import reveal_identity
    from cases.models import Case
    runtime = app.extensions["fieldproof"]
    with runtime.db.transaction() as session:
        placed = session.get(Case, cases["SAME-1"]["id"])
        assert reveal_identity(placed, runtime.cipher) == {"national_id": "110101199003071234",
                                                          "phone": "+86 139 1234 5678"}
    events = client.get(f"/api/v1/cases/{cases['SAME-1']['id']}/timeline", headers=sup.headers).get_json()
    assert [e["type"] for e in events] == ["case_opened"]


def test_a_retried_upload_with_the_same_idempotency_key_is_one_placement(app, client, desk):
    sup = desk["supervisor"]
    headers = {**sup.headers, "Idempotency-Key": "placement-retry-1"}
    url = f"/api/v1/portfolios/{desk['portfolio_id']}/placements"
    data = csv_bytes([row("ID-1")])
    first = client.post(url, data={"file": (io.BytesIO(data), "a.csv")}, headers=headers,
                        content_type="multipart/form-data")
    again = client.post(url, data={"file": (io.BytesIO(data), "a.csv")}, headers=headers,
                        content_type="multipart/form-data")
    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"]
    other = client.post(url, data={"file": (io.BytesIO(csv_bytes([row("ID-2")])), "a.csv")}, headers=headers,
                        content_type="multipart/form-data")
    assert other.status_code == 409
    assert app.extensions["fieldproof"].jobs.wait_idle()


def test_a_case_is_assigned_only_to_a_collector_granted_its_creditor(client, factory, desk):
    other = client.post("/api/v1/creditors", json={"code": "BANK-Q", "name": "Bank Q"},
                        headers=desk["admin"].headers).get_json()["id"]
    outsider = factory.user("collector", creditors=[other])
    case = factory.case(supervisor=desk["supervisor"], portfolio_id=desk["portfolio_id"])
    response = client.patch(f"/api/v1/cases/{case['id']}", json={"assigned_collector_id": outsider.id},
                            headers=desk["supervisor"].headers)
    assert response.status_code == 422 and "assigned_collector_id" in response.get_json()["errors"]
    insider = factory.user("collector")
    assert client.patch(f"/api/v1/cases/{case['id']}", json={"assigned_collector_id": insider.id},
                        headers=desk["supervisor"].headers).status_code == 200
