"""Request ids, logs that never carry secrets or personal data (JSON lines, or plain text for a
terminal: `FIELDPROOF_LOG_FORMAT`), metrics."""
from __future__ import annotations

import logging
import re
import secrets
import sys
import time

from flask import Flask, Response, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# What must never reach a log line: credentials, tokens, and the debtor identifiers that
# RULES.md says are masked everywhere (Chinese resident ids, long digit runs, phone numbers).
_SCRUBBERS = [
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"(?i)(authorization|password|passwd|access_token|token|secret|cookie)([\"']?\s*[=:]\s*[\"']?)"
                r"[^\s\"',}]+"), r"\1\2[redacted]"),
    (re.compile(r"\b\d{17}[\dXx]\b"), "[national-id]"),
    (re.compile(r"\+\d[\d\s().-]{6,}\d"), "[phone]"),
    (re.compile(r"\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"), "[phone]"),
    (re.compile(r"\b\d{10,}\b"), "[number]"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class ScrubbingJsonFormatter(JsonFormatter):
    """Formats, then scrubs the whole line, so no field or traceback can leak a secret."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


# The attributes every LogRecord has; anything else on a record was passed in `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ScrubbingTextFormatter(logging.Formatter):
    """One plain line for a person at a terminal: UTC time, level, logger, [request id], message,
    then the record's extra fields as key=value; scrubbed like the JSON lines."""

    converter = time.gmtime

    def __init__(self):
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%S")

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return f"{super().formatTime(record, datefmt or self.datefmt)}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        extra = {k: v for k, v in vars(record).items()
                 if k not in _RECORD_ATTRIBUTES and not k.startswith("_") and k != "request_id"}
        request_id = getattr(record, "request_id", None)
        parts = [self.formatTime(record), f"{record.levelname:<7}", record.name]
        if request_id:
            parts.append(f"[{request_id}]")
        parts.append(message)
        parts += [f"{key}={value}" for key, value in extra.items() if value is not None]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return scrub(line)


class RequestIdFilter(logging.Filter):
    """Every line written while a request is handled carries its request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None and has_request_context():
            record.request_id = g.get("request_id")
        return True


def log_formatter(log_format: str = "json") -> logging.Formatter:
    """The formatter of our lines (and of gunicorn's, api/serve.py): `json` or `text`."""
    if log_format == "text":
        return ScrubbingTextFormatter()
    return ScrubbingJsonFormatter("%(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"},
                                  timestamp="time")


def log_handler(log_format: str = "json") -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler._fieldproof = True
    handler.setFormatter(log_formatter(log_format))
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(level: str, log_format: str = "json") -> None:
    """Idempotent: replaces our own handler only, leaving handlers that tests attach alone."""
    logger = logging.getLogger("fieldproof")
    for handler in [h for h in logger.handlers if getattr(h, "_fieldproof", False)]:
        logger.removeHandler(handler)
    logger.addHandler(log_handler(log_format))
    logger.setLevel(level)
    logger.propagate = True


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("fieldproof_http_requests_total", "HTTP requests",
                                ["method", "endpoint", "status"], registry=self.registry)
        self.latency = Histogram("fieldproof_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "endpoint"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self._series: dict[tuple[str, str, int], tuple] = {}
        # set at each scrape: how long the oldest checkpoint has waited for its RFC 3161 stamp
        self.stamp_pending = Gauge("fieldproof_checkpoint_stamp_pending_seconds",
                                   "Age of the oldest checkpoint still waiting for its TSA timestamp (0: none waits)",
                                   registry=self.registry)

    def observe(self, method: str, endpoint: str, status: int, elapsed: float) -> None:
        """Count and time one request; the labelled series are looked up once, then kept."""
        key = (method, endpoint, status)
        series = self._series.get(key)
        if series is None:
            series = self._series.setdefault(key, (self.requests.labels(method, endpoint, str(status)),
                                                   self.latency.labels(method, endpoint)))
        series[0].inc()
        series[1].observe(elapsed)

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


access_log = logging.getLogger("fieldproof.access")


def install(app: Flask) -> Metrics:
    metrics = Metrics()

    # Each hook takes the request and `g` out of their proxies once: a proxy lookup costs about
    # as much as the rest of a hook's work, and these two run on every request.
    @app.before_request
    def _start():
        state = g._get_current_object()
        state.started = time.perf_counter()
        supplied = request.environ.get("HTTP_X_REQUEST_ID")
        state.request_id = supplied if supplied and _REQUEST_ID.match(supplied) else secrets.token_hex(16)

    @app.after_request
    def _finish(response: Response):
        state, current = g._get_current_object(), request._get_current_object()
        request_id = state.get("request_id", "")
        response.headers["X-Request-ID"] = request_id
        # The rule, not the path: ids in paths would make one series per object.
        endpoint = current.url_rule.rule if current.url_rule else "unmatched"
        now = time.perf_counter()
        elapsed = now - state.get("started", now)
        metrics.observe(current.method, endpoint, response.status_code, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            actor = state.get("actor")
            access_log.info("request", extra={
                "request_id": request_id, "method": current.method, "endpoint": endpoint,
                "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
                "user_id": actor.id if actor else None,
            })
        return response

    return metrics
