"""Hostile JSON and parameters, table-driven over the operations of the OpenAPI document.

Syntax attacks (deep nesting, NaN/Infinity, overflowing numbers, duplicate keys, invalid UTF-8)
are 400 on every JSON endpoint; a wrong Content-Type is 415; an oversize body 413. Well-formed
bodies with extreme values (huge integers and floats, impossible dates, offsets at and past the
ends of Earth's −12:00…+14:00, page sizes of 10^9) are refused with 4xx, never a 500.
"""
from __future__ import annotations

import copy
import json
import re

import pytest

from tests.hardening.conftest import json_operations, op_id, operations, takes_timestamps
from tests.hardening.world import build, role_for, valid_bodies

JSON_OPS = json_operations()
PAGED_OPS = [(m, p, op) for m, p, op in operations()
             if m == "GET" and any(x.get("name") == "page_size" for x in op.get("parameters", []))]
SYNC_OPS = [(m, p, op) for m, p, op in operations()
            if m == "GET" and any(x.get("name") == "updated_since" for x in op.get("parameters", []))]


@pytest.fixture
def hw(app, client, factory):
    return build(app, client, factory)


def send(client, hw, method, template, *, role, data=None, content_type="application/json", raw=None,
         query=None):
    headers = hw.headers(role) if role else {}
    body = raw if raw is not None else (json.dumps(data).encode() if data is not None else None)
    return client.open(hw.path(template), method=method, data=body, headers=headers, content_type=content_type,
                       query_string=query)


def assert_problem(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:400])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert body["status"] == response.status_code and "Traceback" not in json.dumps(body)
    return body


SYNTAX_ATTACKS = {
    "deep-array": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nan": b'{"x": NaN}',
    "infinity": b'{"x": Infinity}',
    "minus-infinity": b'{"x": -Infinity}',
    "float-overflow": b'{"x": 1e999}',
    "negative-float-overflow": b'{"x": -1e400}',
    "integer-5000-digits": b'{"x": ' + b"9" * 5000 + b"}",
    "duplicate-keys": b'{"x": 1, "x": 2}',
    "nested-duplicate-keys": b'{"a": {"b": 1, "b": 1}}',
    "invalid-utf8": b'{"x": "\xff\xfe\xc3\x28"}',
    "lone-surrogate-bytes": b'{"x": "\xed\xa0\x80"}',
    "utf16-bom": "\ufeff{}".encode("utf-16"),
    "trailing-garbage": b'{"x": 1} {"y": 2}',
    "truncated": b'{"x": [1, 2',
    "single-quotes": b"{'x': 1}",
    "nul-byte": b'{"x": 1}\x00',
}


@pytest.mark.parametrize("method,path,operation", JSON_OPS, ids=[op_id(m, p) for m, p, _ in JSON_OPS])
def test_malformed_json_is_400_everywhere(client, hw, method, path, operation):
    for attack, raw in SYNTAX_ATTACKS.items():
        response = send(client, hw, method, path, role=role_for(operation), raw=raw)
        assert response.status_code == 400, (attack, response.get_data(as_text=True)[:300])
        assert_problem(response, 400)


WRONG_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/xml", "application/json-patch+json", "application/octet-stream"]


@pytest.mark.parametrize("method,path,operation", JSON_OPS, ids=[op_id(m, p) for m, p, _ in JSON_OPS])
def test_wrong_type_oversize_and_non_object_bodies(client, hw, method, path, operation):
    role = role_for(operation)
    for content_type in WRONG_TYPES:
        response = send(client, hw, method, path, role=role, raw=b'{"x": 1}', content_type=content_type)
        assert response.status_code == 415, content_type
        assert_problem(response, 415)
    big = b'{"x": "' + b"a" * (1 << 20) + b'"}'
    assert_problem(send(client, hw, method, path, role=role, raw=big), 413)
    for raw in (b"[]", b"1", b'"text"', b"null", b"true"):
        assert_problem(send(client, hw, method, path, role=role, raw=raw), 400, 422)


def test_every_json_operation_has_a_valid_body(hw):
    """The value tables below cover every JSON operation the document describes."""
    table = valid_bodies(hw)
    assert {(m, p) for m, p, _ in JSON_OPS} == set(table)


# --- extreme values inside otherwise valid bodies --------------------------------------------

EXTREME_NUMBERS = [10 ** 30, -(10 ** 30), 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 1.7976931348623157e308,
                   -1.7976931348623157e308, 5e-324, -0.0, 10 ** 300]
EXTREME_STRINGS = ["", " ", "\x00", "\u202e\u0000\ud7ff", "a" * 100_000, "../../etc/passwd", "' OR 1=1 --",
                   "{{7*7}}", "<script>alert(1)</script>"]


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _replace(body, path, value):
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize("method,path,operation", JSON_OPS, ids=[op_id(m, p) for m, p, _ in JSON_OPS])
def test_extreme_values_never_break_the_server(client, hw, method, path, operation):
    role, body = valid_bodies(hw)[(method, path)]
    tried = 0
    for leaf, original in list(_leaves(body)):
        # numbers where numbers go, strings where strings go, and type confusion everywhere
        if isinstance(original, (int, float)) and not isinstance(original, bool):
            hostile = list(EXTREME_NUMBERS) + [str(n) for n in EXTREME_NUMBERS[:3]]
        else:
            hostile = list(EXTREME_STRINGS) + [10 ** 30, 1.7976931348623157e308]
        hostile += [None, True, [], {}, [original] * 3, {"$gt": ""}]
        for value in hostile:
            response = send(client, hw, method, path, role=role, data=_replace(body, leaf, value))
            tried += 1
            assert response.status_code < 500, (leaf, repr(value)[:80], response.get_data(as_text=True)[:500])
    assert tried > 0
    # and the server still serves the valid request (or refuses it for its state, never with a 500)
    assert send(client, hw, method, path, role=role, data=body).status_code < 500


# --- time: offsets, calendar limits ------------------------------------------------------------

# (value, accepted?) for an RFC 3339 timestamp on Earth: offsets −12:00…+14:00 (API.md).
TIMESTAMPS = [
    ("2030-01-01T10:00:00+14:00", True), ("2030-01-01T10:00:00-12:00", True),
    ("2030-01-01T10:00:00+14:01", False), ("2030-01-01T10:00:00-12:01", False),
    ("2030-01-01T10:00:00-14:00", False), ("2030-01-01T10:00:00+23:59", False),
    ("2030-01-01T10:00:00+24:00", False), ("2030-01-01T10:00:00+99:99", False),
    ("2030-01-01T10:00:00", False),  # no offset
    ("0000-01-01T00:00:00Z", False), ("10000-01-01T00:00:00Z", False), ("2030-02-30T10:00:00Z", False),
    ("2031-02-29T10:00:00Z", False), ("2030-13-01T10:00:00Z", False), ("2030-01-01T24:00:01Z", False),
    ("0001-01-01T00:00:00+14:00", False), ("9999-12-31T23:59:59-12:00", False),
    ("2030-01-01", False), ("1e10", False), ("2030-01-01T10:00:00.123456789123Z", None),
]
QUERY_TIMES = [(value, ok) for value, ok in TIMESTAMPS if ok is not None and not value.startswith(("0001", "9999"))]


def _timestamp_fields(body, path=()):
    for leaf, value in _leaves(body, path):
        if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
            yield leaf


TIMESTAMP_OPS = [(m, p, op) for m, p, op in JSON_OPS if takes_timestamps(op)]


@pytest.mark.parametrize("method,path,operation", TIMESTAMP_OPS, ids=[op_id(m, p) for m, p, _ in TIMESTAMP_OPS])
def test_timestamps_out_of_range_are_refused(client, hw, method, path, operation):
    role, body = valid_bodies(hw)[(method, path)]
    fields = list(_timestamp_fields(body))
    assert fields, "the document declares a date-time field; the valid body must carry one"
    for leaf in fields:
        for value, accepted in TIMESTAMPS:
            response = send(client, hw, method, path, role=role, data=_replace(body, leaf, value))
            assert response.status_code < 500, (leaf, value, response.get_data(as_text=True)[:400])
            if accepted is False:
                errors = assert_problem(response, 400, 422).get("errors", {})
                assert response.status_code == 422 and any(str(leaf[-1]) in key for key in errors), (value, errors)


@pytest.mark.parametrize("method,path,operation", SYNC_OPS, ids=[op_id(m, p) for m, p, _ in SYNC_OPS])
def test_updated_since_offsets_and_calendar(client, hw, method, path, operation):
    for value, accepted in QUERY_TIMES:
        response = send(client, hw, method, path, role=role_for(operation), query={"updated_since": value})
        if accepted:
            assert response.status_code == 200, (value, response.get_data(as_text=True)[:300])
        else:
            assert response.status_code == 422, (value, response.get_data(as_text=True)[:300])
            assert_problem(response, 422)


DATES = [("2030-02-30", False), ("0000-01-01", False), ("10000-01-01", False), ("2030-13-01", False),
         ("0001-01-01", False), ("9999-12-31", False), ("2030-1-1", False), ("2030-01-01", True)]
DATE_QUERIES = [("GET", "/api/v1/visits", "date", {}), ("GET", "/api/v1/collectors/{collector_id}/route", "date", {}),
                ("GET", "/api/v1/reports/visits", "from", {"to": "2030-01-31"}),
                ("GET", "/api/v1/reports/visits", "to", {"from": "2030-01-01"}),
                ("GET", "/api/v1/reports/contacts", "from", {"to": "2030-01-31"}),
                ("GET", "/api/v1/reports/contacts", "to", {"from": "2030-01-01"})]


@pytest.mark.parametrize("method,path,name,extra", DATE_QUERIES, ids=[f"{p} {n}" for _, p, n, _ in DATE_QUERIES])
def test_dates_out_of_range_are_refused(client, hw, method, path, name, extra):
    for value, accepted in DATES:
        response = send(client, hw, method, path, role="supervisor", query={name: value, **extra})
        if accepted:
            assert response.status_code == 200, (value, response.get_data(as_text=True)[:300])
        else:
            assert response.status_code == 422, (value, response.get_data(as_text=True)[:300])
            assert_problem(response, 422)


def test_every_date_parameter_is_in_the_table():
    named = {(m, p, x.get("name")) for m, p, op in operations() for x in op.get("parameters", [])
             if x.get("in") == "query" and x.get("schema", {}).get("format") == "date"}
    assert named <= {(m, p, n) for m, p, n, _ in DATE_QUERIES}


# --- paging ----------------------------------------------------------------------------------

PAGING = [({"page_size": 10 ** 9}, 422), ({"page_size": 0}, 422), ({"page_size": -1}, 422),
          ({"page_size": 101}, 422), ({"page_size": "1e3"}, 422), ({"page_size": "NaN"}, 422),
          ({"page": 0}, 422), ({"page": -5}, 422), ({"page": "two"}, 422), ({"page": 10 ** 9}, 200),
          ({"page": 10 ** 30}, (200, 422)), ({"page": 2 ** 63}, (200, 422)), ({"page": 2 ** 53 + 1}, (200, 422)),
          ({"page_size": 100, "page": 1}, 200)]


@pytest.mark.parametrize("method,path,operation", PAGED_OPS, ids=[op_id(m, p) for m, p, _ in PAGED_OPS])
def test_page_sizes_and_pages(client, hw, method, path, operation):
    for query, expected in PAGING:
        response = send(client, hw, method, path, role=role_for(operation), query=query)
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert response.status_code in expected, (query, response.status_code, response.get_data(as_text=True)[:300])
        if response.status_code == 200:
            assert response.get_json() == [] or query.get("page", 1) == 1


INTEGER_QUERIES = [("GET", "/api/v1/ledger/proofs/inclusion", {"index": 0, "tree_size": 1}),
                   ("GET", "/api/v1/ledger/proofs/consistency", {"first": 1, "second": 1}),
                   ("GET", "/api/v1/packets/{packet_id}/pdf", {"volume": 1})]


@pytest.mark.parametrize("method,path,base", INTEGER_QUERIES, ids=[p for _, p, _ in INTEGER_QUERIES])
def test_integer_parameters_at_the_extremes(client, hw, method, path, base):
    for name in base:
        for value in (10 ** 9, 10 ** 30, -1, 2 ** 63, "NaN", "1e3", "", "0x10", "1.5"):
            response = send(client, hw, method, path, role="admin", query={**base, name: value})
            assert response.status_code in (400, 404, 409, 422), (name, value, response.get_data(as_text=True)[:300])


def test_console_page_numbers_at_the_extremes(client, hw, console):
    console.login(hw.users["legal"])
    for page in ("1", "0", "-1", str(10 ** 9), str(10 ** 30), "NaN", "1e9", "٣"):
        response = client.get("/console/cases", query_string={"page": page})
        assert response.status_code == 200, (page, response.status_code)
