"""Placement addresses without coordinates: geocoded through a configured geopy geocoder (here
geopy's Nominatim against a loopback server speaking Nominatim's JSON API), rejected with the
reason when they cannot be placed on a map (geocoding off, no result, a timeout, a 500)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from core.errors import ConfigurationError
from core.settings import Settings
from tests.api.test_placements import csv_bytes, place, placing_desk, report, row

SHANGHAI = {"lat": "31.2243", "lon": "121.4768", "display_name": "Nanjing Road, Shanghai, China"}


class LocalNominatim:
    """A loopback Nominatim: `places` answers by query; "Boom" gets a 500; "Slow" is held until stop."""

    def __init__(self):
        self.places: dict[str, dict] = {}
        self.queries: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                query = parse_qs(url.query).get("q", [""])[0]
                server.queries.append(query)
                if url.path != "/search" or parse_qs(url.query).get("format") != ["json"]:
                    self.send_response(404)
                    self.end_headers()
                    return
                if query.startswith("Boom"):
                    self.send_response(500)
                    self.end_headers()
                    return
                if query.startswith("Slow"):
                    server.release.wait(30)
                    return
                body = json.dumps([server.places[query]] if query in server.places else []).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True, name="test-nominatim")
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.release.set()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def nominatim():
    service = LocalNominatim()
    yield service
    service.stop()


@pytest.fixture
def settings(settings, nominatim):
    return settings.with_overrides(geocoder="nominatim", geocoder_url=nominatim.url, geocoder_user_agent="fieldproof-test",
                                   geocoder_timeout_seconds=0.5, geocoder_min_delay_seconds=0.0)


def unplaced(ref: str, line: str, **over) -> dict:
    return row(ref, home_line=line, home_city="Shanghai", home_country="CN", home_lat="", home_lon="", **over)


def cases_by_reference(client, user) -> dict:
    return {c["reference"]: c for c in client.get("/api/v1/cases", headers=user.headers).get_json()}


def test_addresses_without_coordinates_are_geocoded_once_per_file(app, client, factory, nominatim):
    desk = placing_desk(client, factory)
    nominatim.places["1 Nanjing Road, Shanghai, CN"] = SHANGHAI
    data = csv_bytes([unplaced("GEO-1", "1 Nanjing Road"), unplaced("GEO-2", "1 Nanjing Road"), row("GEO-3")])
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], data)
    assert placement["status"] == "done", placement
    assert placement["counts"]["accepted"] == 3 and placement["counts"]["rejected"] == 0
    # the same address twice in a file, and the validating pass and the writing pass: asked once
    assert nominatim.queries == ["1 Nanjing Road, Shanghai, CN"]
    cases = cases_by_reference(client, desk["supervisor"])
    home = cases["GEO-1"]["addresses"][0]
    assert (float(home["lat"]), float(home["lon"])) == (31.2243, 121.4768)
    assert float(cases["GEO-3"]["addresses"][0]["lat"]) == 31.2304  # coordinates given: not geocoded


def test_unplaceable_rows_are_rejected_with_the_reason_and_the_others_imported(app, client, factory, nominatim):
    desk = placing_desk(client, factory)
    nominatim.places["1 Nanjing Road, Shanghai, CN"] = SHANGHAI
    data = csv_bytes([unplaced("GX-1", "Nowhere Lane"), unplaced("GX-2", "Boom Street"),
                      unplaced("GX-3", "Slow Street"), unplaced("GX-4", "1 Nanjing Road"), row("GX-5")])
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], data, mode="valid_rows")
    assert placement["status"] == "done", placement
    assert placement["counts"]["accepted"] == 2 and placement["counts"]["rejected"] == 3
    reasons = {r["reference"]: r for r in report(client, desk["supervisor"], placement)}
    assert "found no such place" in reasons["GX-1"]["reasons"]
    assert "geocoder failed" in reasons["GX-2"]["reasons"]
    assert "did not answer within 0.5 s" in reasons["GX-3"]["reasons"]
    for ref in ("GX-1", "GX-2", "GX-3"):
        assert reasons[ref]["result"] == "rejected"
        assert reasons[ref]["reasons"].startswith("home address: ")
        assert "time zone" in reasons[ref]["reasons"]
    assert set(cases_by_reference(client, desk["supervisor"])) == {"GX-4", "GX-5"}


def test_an_unplaceable_row_stops_an_all_or_nothing_file(app, client, factory, nominatim):
    desk = placing_desk(client, factory)
    data = csv_bytes([row("AN-1"), unplaced("AN-2", "Boom Street")])
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], data)
    assert placement["status"] == "failed" and placement["counts"]["rejected"] == 1
    assert cases_by_reference(client, desk["supervisor"]) == {}


def test_with_geocoding_off_a_row_without_coordinates_is_rejected_and_says_why(app, client, factory, nominatim):
    runtime = app.extensions["fieldproof"]
    runtime.settings = runtime.settings.with_overrides(geocoder="off")
    desk = placing_desk(client, factory)
    nominatim.places["1 Nanjing Road, Shanghai, CN"] = SHANGHAI
    data = csv_bytes([unplaced("OFF-1", "1 Nanjing Road"),
                      row("OFF-2", home_lat="", home_lon="", home_line="", home_city="", home_country="")])
    placement = place(client, app, desk["supervisor"], desk["portfolio_id"], data, mode="valid_rows")
    outcome = {r["reference"]: r for r in report(client, desk["supervisor"], placement)}
    assert outcome["OFF-1"]["result"] == "rejected"
    assert "no geocoder is configured" in outcome["OFF-1"]["reasons"]
    assert "lawful visiting hours need the address's time zone" in outcome["OFF-1"]["reasons"]
    assert outcome["OFF-2"]["result"] == "accepted"  # no address at all: nothing to place
    assert nominatim.queries == []


@pytest.mark.parametrize(("env", "message"), [
    ({"FIELDPROOF_GEOCODER": "no-such-service"}, "geopy geocoder name"),
    ({"FIELDPROOF_GEOCODER": "nominatim", "FIELDPROOF_GEOCODER_URL": "ftp://x"}, "http:// or https://"),
    ({"FIELDPROOF_GEOCODER": "nominatim", "FIELDPROOF_GEOCODER_TIMEOUT_SECONDS": "0"}, "must be positive"),
])
def test_geocoder_settings_are_checked_at_start(env, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_geocoding_is_off_by_default_and_read_from_the_environment():
    assert Settings.from_env({}).geocoder == "off"
    configured = Settings.from_env({"FIELDPROOF_GEOCODER": "Nominatim", "FIELDPROOF_GEOCODER_URL": "http://127.0.0.1:9",
                                    "FIELDPROOF_GEOCODER_MIN_DELAY_SECONDS": "1.5"})
    assert (configured.geocoder, configured.geocoder_url, configured.geocoder_min_delay_seconds) == \
        ("nominatim", "http://127.0.0.1:9", 1.5)
