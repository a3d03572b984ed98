"""Row validation is the API's case schema; CSV cells that could run as formulas are escaped."""
from __future__ import annotations

import csv
import io

import pytest

from api.schemas.cases import CaseSchema
from placements import csvsafe
from placements.reading import UnreadableFile, read_rows
from placements.services import register_row_schema, validate_row

ROW = {"reference": "R-1", "debtor_name": "Li Lei", "national_id": "110101199003071234", "phone": "+86 139 0000 0000",
       "card_last4": "1234", "currency": "CNY", "amount_overdue": "100.50", "days_past_due": "30",
       "jurisdiction": "CN", "home_line": "1 Road", "home_city": "Shanghai", "home_country": "CN",
       "home_lat": "31.2", "home_lon": "121.5"}


@pytest.fixture(autouse=True)
def schema():
    register_row_schema(CaseSchema())


@pytest.mark.parametrize("value,expected", [("=1+1", "'=1+1"), ("+86 139", "'+86 139"), ("-5", "'-5"),
                                            ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
                                            ("plain", "plain"), ("", ""), (None, ""), (12, "12")])
def test_cells_that_start_like_formulas_are_prefixed(value, expected):
    assert csvsafe.cell(value) == expected


def test_a_good_row_loads_as_the_api_would():
    data, reasons = validate_row(ROW)
    assert reasons == [] and data["days_past_due"] == 30 and str(data["amount_overdue"]) == "100.50"
    assert data["addresses"][0]["lat"] == 31.2 and data["debtor"]["national_id"] == ROW["national_id"]


@pytest.mark.parametrize("change,field", [({"amount_overdue": "12,5"}, "amount_overdue"),
                                          ({"days_past_due": "thirty"}, "days_past_due"),
                                          ({"home_lat": "95"}, "addresses.lat"),
                                          ({"home_lon": ""}, "addresses"),
                                          ({"jurisdiction": "XX"}, "jurisdiction"),
                                          ({"card_last4": "12"}, "card_last4"),
                                          ({"debtor_name": ""}, "debtor.name"),
                                          ({"action": "delete"}, "action")])
def test_a_bad_row_names_the_field(change, field):
    data, reasons = validate_row({**ROW, **change})
    assert data is None and any(r.startswith(field) for r in reasons), reasons


def test_a_recall_row_needs_only_the_reference():
    assert validate_row({"reference": "R-9", "action": "recall"})[0] == {"reference": "R-9", "action": "recall"}
    assert validate_row({"reference": "", "action": "recall"})[0] is None


def test_rows_are_numbered_as_the_creditor_sees_them(tmp_path):
    path = tmp_path / "f.csv"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([["Ref", "x"], ["A", "1"], ["", ""], ["B", "2"]])
    path.write_text(out.getvalue())
    rows = [(n, r) for n, r, _ in read_rows(path, "csv", {"Ref": "reference"})]
    assert rows == [(1, {"reference": "A"}), (3, {"reference": "B"})]


def test_a_header_naming_a_column_twice_is_unreadable(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("reference,Ref\nA,B\n")
    with pytest.raises(UnreadableFile):
        list(read_rows(path, "csv", {"Ref": "reference"}))
