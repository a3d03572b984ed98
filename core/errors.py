"""One tree of domain errors; `api/` maps each class to an HTTP status in one place."""
from __future__ import annotations


class FieldProofError(Exception):
    """Base of every error the domain raises on purpose."""

    title = "Request refused"

    def __init__(self, detail: str = "", **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(FieldProofError):
    """Unknown, or not visible to this actor (never reveals which)."""

    title = "Not found"


class Unauthenticated(FieldProofError):
    title = "Authentication required"


class Forbidden(FieldProofError):
    title = "Forbidden"


class Conflict(FieldProofError):
    """The request clashes with the current state (double check-in, duplicate name...)."""

    title = "Conflict"


class ValidationFailed(FieldProofError):
    """Well-formed input that a domain check refuses; `errors` maps field → messages."""

    title = "Validation failed"

    def __init__(self, detail: str = "", errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.errors = errors or {}


class RuleViolation(FieldProofError):
    """A compliance rule forbids the action; `violations` lists every rule that did."""

    title = "Refused by compliance rules"

    def __init__(self, detail: str = "", violations: list[dict] | None = None):
        super().__init__(detail)
        self.violations = violations or []


class IntegrityFailure(FieldProofError):
    """Bytes or records do not match what was recorded (hash mismatch...)."""

    title = "Integrity check failed"


class PayloadTooLarge(FieldProofError):
    title = "Payload too large"


class UnsupportedMedia(FieldProofError):
    title = "Unsupported media type"


class RateLimited(FieldProofError):
    title = "Too many requests"

    def __init__(self, detail: str = "", retry_after: int = 60):
        super().__init__(detail)
        self.retry_after = retry_after


class DependencyUnavailable(FieldProofError):
    """A database or object store is down; the client should retry later."""

    title = "Service temporarily unavailable"

    def __init__(self, detail: str = "", retry_after: int = 5):
        super().__init__(detail)
        self.retry_after = retry_after


class ConfigurationError(FieldProofError):
    """Settings that cannot work; raised at start-up, never during a request."""

    title = "Configuration error"
