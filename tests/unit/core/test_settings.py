import pytest

from core.errors import ConfigurationError
from core.settings import Settings


def test_defaults_point_under_the_data_dir(tmp_path):
    settings = Settings.from_env({"FIELDPROOF_DATA_DIR": str(tmp_path)})
    assert settings.env == "development" and settings.jobs == "thread"
    assert settings.database_url == f"sqlite:///{tmp_path / 'fieldproof.db'}"
    assert settings.storage_url == f"file://{tmp_path / 'blobs'}"
    assert settings.evidence_max_bytes == 500_000_000 and settings.geofence_radius_m == 100


def test_values_are_typed():
    settings = Settings.from_env({"FIELDPROOF_GEOFENCE_RADIUS_M": "250", "FIELDPROOF_ROUTE_BASE_LAT": "31.2"})
    assert settings.geofence_radius_m == 250 and settings.route_base_lat == 31.2


@pytest.mark.parametrize("env,message", [
    ({"FIELDPROOF_GEOFENCE_RADIUS_M": "wide"}, "integer"),
    ({"FIELDPROOF_GEOFENCE_RADIUS_M": "0"}, "at least"),
    ({"FIELDPROOF_JOBS": "cron"}, "one of"),
    ({"FIELDPROOF_JOBS": "celery"}, "BROKER_URL"),
    ({"FIELDPROOF_ENV": "production"}, "FIELDPROOF_SECRET_KEY"),
    ({"FIELDPROOF_ENV": "production", "FIELDPROOF_SECRET_KEY": "x" * 40}, "FIELDPROOF_SIGNING_KEY_FILE"),
    ({"FIELDPROOF_ENV": "production", "FIELDPROOF_SECRET_KEY": "short", "FIELDPROOF_SIGNING_KEY_FILE": "/k"},
     "32 characters"),
])
def test_bad_or_missing_settings_fail_loudly(env, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_production_start_without_secrets_fails(tmp_path):
    from api.app import create_app

    with pytest.raises(ConfigurationError):
        create_app(Settings(env="production", data_dir=tmp_path))


def test_rule_overrides_that_loosen_the_law_stop_start_up(tmp_path):
    from api.app import create_app

    loosened = Settings(data_dir=tmp_path, secret_key="k" * 40, rule_overrides={"hours.local": {"end": "23:30"}})
    with pytest.raises(ConfigurationError, match="RULE_OVERRIDES"):
        create_app(loosened)
    tightened = Settings(data_dir=tmp_path, secret_key="k" * 40, rule_overrides={"hours.local": {"start": "09:00"}})
    assert create_app(tightened) is not None


def test_if_match_is_required_only_when_asked(tmp_path):
    assert Settings.from_env({"FIELDPROOF_DATA_DIR": str(tmp_path)}).require_if_match is False
    assert Settings.from_env({"FIELDPROOF_DATA_DIR": str(tmp_path),
                              "FIELDPROOF_REQUIRE_IF_MATCH": "true"}).require_if_match is True


@pytest.mark.parametrize("location", ["https://tiles.example.org/custody/", "http://127.0.0.1:8080/log",
                                      "https://user:secret@cdn.example.net/log?token=abc", "/srv/tiles"])
def test_a_ledger_mirror_is_an_http_url_or_an_absolute_directory(location):
    settings = Settings.from_env({"FIELDPROOF_LEDGER_MIRROR": location, "FIELDPROOF_LEDGER_MIRROR_TIMEOUT_SECONDS": "5"})
    assert settings.ledger_mirror == location and settings.ledger_mirror_timeout_seconds == 5
    assert Settings.from_env({}).ledger_mirror is None


@pytest.mark.parametrize(("location", "message"), [
    ("tiles.example.org/custody", "absolute directory"),  # a URL without its scheme
    ("relative/tiles", "absolute directory"),
    ("ftp://tiles.example.org/custody", "http:// or https://"),
    ("file:///srv/tiles", "http:// or https://"),
    ("https:///custody", "with a host"),
    ("https://tiles.example.org:port/custody", "port"),
    ("https://tiles.example.org/custody#top", "fragment"),
])
def test_a_ledger_mirror_that_cannot_be_read_stops_start_up(location, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({"FIELDPROOF_LEDGER_MIRROR": location})
    with pytest.raises(ConfigurationError, match="at least 1"):
        Settings.from_env({"FIELDPROOF_LEDGER_MIRROR_TIMEOUT_SECONDS": "0"})
