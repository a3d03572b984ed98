"""Typed settings, parsed once from `FIELDPROOF_*` environment variables.

`Settings.from_env()` only reads and validates; it creates no files and opens no
connections, so importing or parsing never has side effects.
"""
from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import ConfigurationError

PREFIX = "FIELDPROOF_"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{PREFIX}{name} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be a number, got {raw!r}") from None


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(PREFIX + name) or default
    if value not in choices:
        raise ConfigurationError(f"{PREFIX}{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def log_format_from_env(env: Mapping[str, str]) -> str:
    """`FIELDPROOF_LOG_FORMAT` (json | text); unset: JSON in production, for the log shippers, and
    one plain line per record elsewhere, for a person at a terminal."""
    default = "json" if env.get(PREFIX + "ENV") == "production" else "text"
    return _choice(env, "LOG_FORMAT", default, ("json", "text"))


def _json_object(env: Mapping[str, str], name: str) -> dict:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigurationError(f"{PREFIX}{name} must map rule ids to objects of settings")
    return value


def check_mirror_location(location: str) -> None:
    """`FIELDPROOF_LEDGER_MIRROR`: an http(s) URL with a host, or an absolute directory path (a
    relative one would depend on where the process started; `host/path` is a URL missing its scheme)."""
    name = PREFIX + "LEDGER_MIRROR"
    if "://" in location:
        parts = urlsplit(location)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port == -1:
            raise ConfigurationError(f"{name} has a port that is not a number from 0 to 65535")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{name} must be an http:// or https:// URL with a host, or a directory")
        if parts.fragment:
            raise ConfigurationError(f"{name} must not have a #fragment")
    elif not Path(location).is_absolute():
        raise ConfigurationError(f"{name} must be an http(s) URL or an absolute directory path")


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    jobs: str = "thread"
    broker_url: str | None = None
    signing_key_file: Path | None = None
    # The organisation certificate chain (PEM, end entity first) and key that sign C2PA manifests.
    c2pa_cert_file: Path | None = None
    c2pa_key_file: Path | None = None
    secret_key: str | None = None
    ledger_origin: str = "fieldproof.local/custody"
    token_ttl_seconds: int = 12 * 3600
    login_max_failures: int = 5
    login_window_seconds: int = 15 * 60
    max_json_bytes: int = 1 << 20
    evidence_max_bytes: int = 500 * 1000 * 1000
    geofence_radius_m: int = 100
    geofence_accuracy_cap_m: int = 50
    clock_skew_seconds: int = 300
    max_travel_kmh: int = 150
    route_speed_kmh: int = 30
    route_base_lat: float | None = None
    route_base_lon: float | None = None
    route_service_minutes: int = 20
    # Organisation tightening of the jurisdiction profiles, by rule id, e.g.
    # {"hours.local": {"start": "09:00"}, "frequency.visits": {"max_per_period": 2}};
    # applied (and refused when it would loosen the law) by visits.services.
    rule_overrides: dict = field(default_factory=dict, compare=False)
    retention_days: int = 365 * 5
    # A direct upload staged but never completed is abandoned after this long (storage sweep).
    staging_max_age_hours: int = 24
    job_visibility_timeout_seconds: int = 300
    proxy_hops: int = 0
    # Writes to editable resources (PATCH cases, users) must carry If-Match (else 428).
    require_if_match: bool = False
    # `complete` calls sealing at once per process (api/admission.py); the CPU count when unset.
    sealing_slots: int = field(default_factory=lambda: os.cpu_count() or 2)
    # Settings built in code (tests, tools) schedule nothing; from_env defaults to hourly.
    checkpoint_interval_seconds: int = 0
    # Custody events: `inline` integrates them in the recording transaction (settings built in
    # code, and SQLite, whose one write lock serialises writers anyway); `queued` queues them and
    # an in-process sequencer integrates them in batches within the merge delay (PostgreSQL's default).
    ledger_sequencer: str = "inline"
    ledger_merge_delay_ms: int = 1000
    # A standby (API nodes) sequences only events left late by the elected sequencer (custody/sequencer.py).
    ledger_standby: bool = False
    log_level: str = "INFO"
    log_format: str = "json"         # from_env: text unless production (log_format_from_env)
    # Court-filing packets: who prepares them (cover, declaration) and the volume size courts accept.
    organisation_name: str = "FieldProof Collections"
    custodian_name: str = "Custodian of Records"
    custodian_title: str = "Records custodian"
    # Written notices print who sends them: the organisation's postal address, phone, e-mail and
    # licence (a US state collection-agency licence, an Indian registration, ...); empty: not printed.
    organisation_address: str = ""
    organisation_phone: str = ""
    organisation_email: str = ""
    organisation_licence: str = ""
    packet_volume_bytes: int = 25_000_000
    render_workers: int = 0          # processes laying out a packet; 0: min(2, CPUs)
    # RFC 3161 time-stamping authority: every checkpoint's signed note is stamped when set;
    # the CA file holds the PEM certificates a response must chain to (roots and intermediates).
    tsa_url: str | None = None
    tsa_ca_file: Path | None = None
    tsa_timeout_seconds: int = 10
    # Where the ledger's tiles are published (what `fieldproof ledger export-tiles DIR` writes, or
    # the http(s) URL of the static host or CDN serving it): verification runs of scope `all` check
    # that copy end to end and that it shows the same log as ours. Unset: no mirror is checked.
    ledger_mirror: str | None = None
    ledger_mirror_timeout_seconds: int = 10
    # Placement rows whose addresses lack coordinates: `off` (such rows are rejected: lawful hours
    # need the address's time zone) or a geopy geocoder name (`nominatim`, ...). The URL points at
    # the service (an agency's own Nominatim: http://host:port); unset, the geocoder's default host.
    geocoder: str = "off"
    geocoder_url: str | None = None
    geocoder_user_agent: str = "fieldproof"
    geocoder_api_key: str | None = None
    geocoder_timeout_seconds: float = 5.0
    geocoder_min_delay_seconds: float = 1.0  # between two requests (public Nominatim allows one a second)
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        # Unset locations default to the data dir, whichever way the settings were built.
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{Path(self.data_dir).resolve() / 'fieldproof.db'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{Path(self.data_dir).resolve() / 'blobs'}")

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = _choice(env, "ENV", "development", ("development", "production"))
        data_dir = Path(env.get(PREFIX + "DATA_DIR") or "var").resolve()
        settings = cls(
            env=mode,
            data_dir=data_dir,
            database_url=env.get(PREFIX + "DATABASE_URL") or "",
            storage_url=env.get(PREFIX + "STORAGE_URL") or "",
            s3_endpoint_url=env.get(PREFIX + "S3_ENDPOINT_URL") or None,
            jobs=_choice(env, "JOBS", "thread", ("thread", "celery")),
            broker_url=env.get(PREFIX + "BROKER_URL") or None,
            signing_key_file=Path(env[PREFIX + "SIGNING_KEY_FILE"]) if env.get(PREFIX + "SIGNING_KEY_FILE") else None,
            c2pa_cert_file=Path(env[PREFIX + "C2PA_CERT_FILE"]) if env.get(PREFIX + "C2PA_CERT_FILE") else None,
            c2pa_key_file=Path(env[PREFIX + "C2PA_KEY_FILE"]) if env.get(PREFIX + "C2PA_KEY_FILE") else None,
            secret_key=env.get(PREFIX + "SECRET_KEY") or None,
            ledger_origin=env.get(PREFIX + "LEDGER_ORIGIN") or cls.ledger_origin,
            token_ttl_seconds=_int(env, "TOKEN_TTL_SECONDS", cls.token_ttl_seconds, 60),
            login_max_failures=_int(env, "LOGIN_MAX_FAILURES", cls.login_max_failures, 1),
            login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", cls.login_window_seconds, 1),
            max_json_bytes=_int(env, "MAX_JSON_BYTES", cls.max_json_bytes, 1024),
            evidence_max_bytes=_int(env, "EVIDENCE_MAX_BYTES", cls.evidence_max_bytes, 1),
            geofence_radius_m=_int(env, "GEOFENCE_RADIUS_M", cls.geofence_radius_m, 1),
            geofence_accuracy_cap_m=_int(env, "GEOFENCE_ACCURACY_CAP_M", cls.geofence_accuracy_cap_m, 0),
            clock_skew_seconds=_int(env, "CLOCK_SKEW_SECONDS", cls.clock_skew_seconds, 0),
            max_travel_kmh=_int(env, "MAX_TRAVEL_KMH", cls.max_travel_kmh, 1),
            route_speed_kmh=_int(env, "ROUTE_SPEED_KMH", cls.route_speed_kmh, 1),
            route_base_lat=_float(env, "ROUTE_BASE_LAT", None),
            route_base_lon=_float(env, "ROUTE_BASE_LON", None),
            route_service_minutes=_int(env, "ROUTE_SERVICE_MINUTES", cls.route_service_minutes, 0),
            rule_overrides=_json_object(env, "RULE_OVERRIDES"),
            retention_days=_int(env, "RETENTION_DAYS", cls.retention_days, 1),
            staging_max_age_hours=_int(env, "STAGING_MAX_AGE_HOURS", cls.staging_max_age_hours, 1),
            proxy_hops=_int(env, "PROXY_HOPS", cls.proxy_hops, 0),
            require_if_match=_choice(env, "REQUIRE_IF_MATCH", "false", ("true", "false")) == "true",
            sealing_slots=_int(env, "SEALING_SLOTS", os.cpu_count() or 2, 1),
            job_visibility_timeout_seconds=_int(env, "JOB_VISIBILITY_TIMEOUT_SECONDS",
                                                cls.job_visibility_timeout_seconds, 1),
            checkpoint_interval_seconds=_int(env, "CHECKPOINT_INTERVAL_SECONDS", 3600, 0),
            ledger_sequencer=_choice(env, "LEDGER_SEQUENCER", "queued" if (env.get(PREFIX + "DATABASE_URL") or "")
                                     .startswith("postgresql") else "inline", ("inline", "queued")),
            ledger_merge_delay_ms=_int(env, "LEDGER_MERGE_DELAY_MS", cls.ledger_merge_delay_ms, 10),
            ledger_standby=_choice(env, "LEDGER_STANDBY", "false", ("true", "false")) == "true",
            log_level=(env.get(PREFIX + "LOG_LEVEL") or "INFO").upper(),
            log_format=log_format_from_env(env),
            organisation_name=env.get(PREFIX + "ORGANISATION_NAME") or cls.organisation_name,
            custodian_name=env.get(PREFIX + "CUSTODIAN_NAME") or cls.custodian_name,
            custodian_title=env.get(PREFIX + "CUSTODIAN_TITLE") or cls.custodian_title,
            organisation_address=env.get(PREFIX + "ORGANISATION_ADDRESS") or cls.organisation_address,
            organisation_phone=env.get(PREFIX + "ORGANISATION_PHONE") or cls.organisation_phone,
            organisation_email=env.get(PREFIX + "ORGANISATION_EMAIL") or cls.organisation_email,
            organisation_licence=env.get(PREFIX + "ORGANISATION_LICENCE") or cls.organisation_licence,
            packet_volume_bytes=_int(env, "PACKET_VOLUME_BYTES", cls.packet_volume_bytes, 1_000_000),
            render_workers=_int(env, "RENDER_WORKERS", cls.render_workers, 0),
            tsa_url=env.get(PREFIX + "TSA_URL") or None,
            tsa_ca_file=Path(env[PREFIX + "TSA_CA_FILE"]) if env.get(PREFIX + "TSA_CA_FILE") else None,
            tsa_timeout_seconds=_int(env, "TSA_TIMEOUT_SECONDS", cls.tsa_timeout_seconds, 1),
            ledger_mirror=env.get(PREFIX + "LEDGER_MIRROR") or None,
            ledger_mirror_timeout_seconds=_int(env, "LEDGER_MIRROR_TIMEOUT_SECONDS",
                                               cls.ledger_mirror_timeout_seconds, 1),
            geocoder=(env.get(PREFIX + "GEOCODER") or cls.geocoder).strip().lower(),
            geocoder_url=env.get(PREFIX + "GEOCODER_URL") or None,
            geocoder_user_agent=env.get(PREFIX + "GEOCODER_USER_AGENT") or cls.geocoder_user_agent,
            geocoder_api_key=env.get(PREFIX + "GEOCODER_API_KEY") or None,
            geocoder_timeout_seconds=_float(env, "GEOCODER_TIMEOUT_SECONDS", cls.geocoder_timeout_seconds),
            geocoder_min_delay_seconds=_float(env, "GEOCODER_MIN_DELAY_SECONDS", cls.geocoder_min_delay_seconds),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that cannot work; production refuses to guess secrets."""
        if self.jobs == "celery" and not self.broker_url:
            raise ConfigurationError(f"{PREFIX}JOBS=celery needs {PREFIX}BROKER_URL")
        if self.tsa_url and not self.tsa_ca_file:
            raise ConfigurationError(f"{PREFIX}TSA_URL needs {PREFIX}TSA_CA_FILE (the TSA's CA certificates, PEM)")
        if self.tsa_url and not self.tsa_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{PREFIX}TSA_URL must be an http:// or https:// URL")
        if self.ledger_mirror:
            check_mirror_location(self.ledger_mirror)
        if self.geocoder != "off":
            from geopy.exc import GeocoderNotFound
            from geopy.geocoders import get_geocoder_for_service

            try:
                geocoder = get_geocoder_for_service(self.geocoder)
            except GeocoderNotFound:
                raise ConfigurationError(f"{PREFIX}GEOCODER must be off or a geopy geocoder name, "
                                         f"got {self.geocoder!r}") from None
            takes = inspect.signature(geocoder).parameters
            if self.geocoder_url and "domain" not in takes:
                raise ConfigurationError(f"{PREFIX}GEOCODER_URL: geopy's {self.geocoder} takes no service URL")
            if "api_key" in takes and takes["api_key"].default is inspect.Parameter.empty \
                    and not self.geocoder_api_key:
                raise ConfigurationError(f"{PREFIX}GEOCODER={self.geocoder} needs {PREFIX}GEOCODER_API_KEY")
        if self.geocoder_url and not self.geocoder_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{PREFIX}GEOCODER_URL must be an http:// or https:// URL")
        if not self.geocoder_timeout_seconds > 0 or self.geocoder_min_delay_seconds < 0:
            raise ConfigurationError(f"{PREFIX}GEOCODER_TIMEOUT_SECONDS must be positive and "
                                     f"{PREFIX}GEOCODER_MIN_DELAY_SECONDS not negative")
        if self.production:
            missing = []
            if not self.secret_key:
                missing.append(PREFIX + "SECRET_KEY")
            if not self.signing_key_file:
                missing.append(PREFIX + "SIGNING_KEY_FILE")
            if missing:
                raise ConfigurationError("production start refused, missing: " + ", ".join(missing))
            if len(self.secret_key) < 32:
                raise ConfigurationError(f"{PREFIX}SECRET_KEY must be at least 32 characters in production")

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)
