"""The application factory: wiring happens here, when called, never at import."""
from __future__ import annotations

import logging
import secrets
from inspect import iscoroutinefunction
from pathlib import Path
from weakref import WeakKeyDictionary

from flask import Flask, g, send_from_directory
from flask_smorest import Api as SmorestApi
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from accounts.token_cache import TokenCache, announce_revocations
from api import idempotency, observability, problems, requests, security
from api.admission import Gate
from api.auth import BEARER_SCHEME
from api.console.auth import ConsoleSessions
from api.docs import (ProblemResponsesPlugin, ProblemSchema, nullable_nested, register_etag_components,
                      register_problem_responses)
from api.json_provider import JSONProvider
from api.runtime import build_runtime
from core.errors import DependencyUnavailable, FieldProofError
from core.settings import Settings
from evidence.errors import EvidenceRejected

log = logging.getLogger("fieldproof.app")
API_PREFIX = "/api/v1"


class FieldProofFlask(Flask):
    """Flask asks `inspect.iscoroutinefunction` of every hook and view on every request; with ten
    hooks that was a quarter of a small request's time. Whether a function is a coroutine
    function does not change, so the answer is kept per function (a bound method's function).
    Bodies are written by `JSONProvider` (Flask's JSON, through orjson where byte-equal)."""

    json_provider_class = JSONProvider

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_functions = WeakKeyDictionary()

    def ensure_sync(self, func):
        target = getattr(func, "__func__", func)
        try:
            if self._sync_functions.get(target):
                return func
        except TypeError:  # not weakly referenceable: ask every time
            return super().ensure_sync(func)
        if iscoroutinefunction(func):
            return self.async_to_sync(func)
        self._sync_functions[target] = True
        return func


class Api(SmorestApi):
    """flask-smorest with problem+json errors (its own payload is replaced) and `Allow` on 405."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException):
        return problems.from_http_exception(error)

    def _register_responses(self):
        register_problem_responses(self)
        self.ma_plugin.converter.add_attribute_function(nullable_nested)

    def _register_etag_headers(self):
        register_etag_components(self)


def _development_secret(data_dir: Path) -> str:
    """Development only: a secret kept under the data dir, generated on first start, said loudly."""
    path = data_dir / "keys" / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    log.warning("FIELDPROOF_SECRET_KEY not set: generated a development secret in %s", path)
    return secret


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check()
    _check_rule_overrides(settings)
    observability.configure_logging(settings.log_level, settings.log_format)
    if not settings.secret_key:
        settings = settings.with_overrides(secret_key=_development_secret(settings.data_dir))
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    app = FieldProofFlask("fieldproof", template_folder=str(Path(__file__).resolve().parent.parent / "templates"))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        API_TITLE="FieldProof",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{API_PREFIX}/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {"description": "Field visits, evidence capture and a verifiable custody ledger.\n\n"
                                    "Strings in bodies, paths and queries may not contain U+0000 (NUL): 400."},
            "components": {"securitySchemes": {"bearerAuth": BEARER_SCHEME}},
        },
        MAX_CONTENT_LENGTH=settings.evidence_max_bytes + (1 << 20),
        SESSION_COOKIE_NAME="fieldproof_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=settings.token_ttl_seconds,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = ConsoleSessions()
    if settings.proxy_hops:
        # Behind N trusted proxies, the client address (login throttling) comes from X-Forwarded-For.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    runtime = build_runtime(settings)
    app.extensions["fieldproof"] = runtime
    if settings.jobs == "thread":
        # Packets are built on this process's threads. Importing WeasyPrint sets PIL's global
        # LOAD_TRUNCATED_IMAGES for the ~2 s the import takes, and every photo upload in that
        # window failed (evidence.images refuses to decode with it set). Import it before the
        # first request, so the window can never overlap one.
        from legal_docs.render import load_weasyprint

        load_weasyprint()
    if settings.checkpoint_interval_seconds and settings.jobs == "thread":
        from custody.jobs import CheckpointScheduler

        from api.dbtools import schema_is_current

        runtime.extras["checkpoints"] = CheckpointScheduler(runtime, settings.checkpoint_interval_seconds,
                                                            ready=lambda: schema_is_current(runtime.db.engine))
        runtime.extras["checkpoints"].start()

    # Production on PostgreSQL only: the cache needs the revocation channel (accounts/token_cache.py), and in
    # development every request looking its token up keeps hand-edited test data honest.
    tokens = TokenCache(settings.database_url, enabled=settings.production and runtime.db.dialect == "postgresql")
    announce_revocations(runtime.db.sessions, tokens)
    runtime.extras["tokens"] = tokens

    runtime.extras["sealing"] = Gate(settings.sealing_slots)

    metrics = observability.install(app)
    runtime.extras["metrics"] = metrics
    requests.install(app)
    idempotency.install(app)
    security.install(app, production=settings.production)

    api = Api(app, spec_kwargs={"extra_plugins": [ProblemResponsesPlugin()]})
    api.spec.components.schema("Problem", schema=ProblemSchema)
    from api.resources import register_all

    register_all(api, app)
    _serve_docs_assets(app)
    from api.console.views import install as install_console

    install_console(app)
    from api.field.views import install as install_field

    install_field(app)

    app.register_error_handler(FieldProofError, problems.from_domain_error)
    app.register_error_handler(EvidenceRejected, problems.from_evidence_rejected)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(OSError, problems.from_os_error)
    app.register_error_handler(Exception, problems.from_unexpected)

    @app.after_request
    def _commit_or_roll_back(response):
        session = g.get("db_session")
        if session is None or session.info.get("read_only"):
            return response  # a read-only session has nothing to commit; teardown closes it
        if response.status_code >= 400:
            _roll_back(session)
            return response
        try:
            replacement = idempotency.remember_response(response)
            if replacement is not None:
                return replacement
            session.commit()
        except FieldProofError as error:
            _roll_back(session)
            return problems.from_domain_error(error)
        except SQLAlchemyError as error:
            _roll_back(session)
            log.error("commit failed", extra={"error_type": type(error).__name__})
            return problems.from_domain_error(DependencyUnavailable("the database did not accept the change"))
        return response

    @app.teardown_request
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    return app


def _roll_back(session) -> None:
    """Roll back; on a connection that is already gone the rollback raises too, and the response
    (a 503 by then) must still go out: the connection is discarded, the server undid the work."""
    try:
        session.rollback()
    except SQLAlchemyError as error:
        log.warning("rollback failed; connection discarded", extra={"error_type": type(error).__name__})
        try:
            session.invalidate()
        except SQLAlchemyError:
            pass


def _check_rule_overrides(settings: Settings) -> None:
    """An organisation override that would loosen the law stops start-up, not a later request."""
    if settings.rule_overrides:
        from jurisdictions.organisation import organisation_profile

        for jurisdiction in ("CN", "IN", "US-NY", "US-CA"):
            organisation_profile(jurisdiction, settings.rule_overrides)


def _database_unavailable(error: OperationalError):
    log.error("database unavailable", extra={"error_type": type(error).__name__})
    return problems.from_domain_error(DependencyUnavailable("the database is unreachable"))


def _serve_docs_assets(app: Flask) -> None:
    """Swagger UI's files from the installed package, so the docs work with no network."""
    import swagger_ui_bundle

    @app.get(f"{API_PREFIX}/docs/assets/<path:filename>")
    def docs_assets(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
