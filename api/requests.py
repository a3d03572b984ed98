"""Request guards that hold for every endpoint: body size, media type, strict JSON."""
from __future__ import annotations

import functools
import json
import math

import marshmallow as ma
from flask import Flask, request
from webargs.core import missing
from werkzeug.datastructures import MultiDict
from webargs.flaskparser import FlaskParser, is_json_request

from api.context import settings
from core.errors import FieldProofError, PayloadTooLarge, UnsupportedMedia

JSON_TYPES = ("application/json",)
_SCHEMAS: dict[type, ma.Schema] = {}


class MalformedBody(FieldProofError):
    title = "Malformed request body"


class MalformedRequest(MalformedBody):
    """The same refusal (400) for what is wrong outside the body: the path or the query string."""

    title = "Malformed request"


def accepts(*media_types: str, max_bytes: str | int | None = None):
    """Declare what a view's body may be: media types and a size limit (bytes or a settings name)."""

    def decorator(view):
        view._accepts = media_types
        view._max_bytes = max_bytes
        return view

    return decorator


def streams_body(view):
    """Mark a view that reads `request.stream` itself (large uploads, constant memory).

    Nothing before the view may touch `request.form`/`files`, which would spool the whole body
    first: the idempotency check is deferred to the view (`idempotency.check_streamed`).
    """
    view._streams_body = True
    return view


def method_view(app: Flask):
    """The function that will handle this request (the MethodView method, or the plain view)."""
    view = app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, request.method.lower(), None) if view_class else view


def _reject_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise MalformedBody(f"duplicate key {key!r} in JSON object")
        seen[key] = value
    return seen


def _reject_constant(name):
    raise MalformedBody(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise MalformedBody("number out of range")
    return value


def strict_json_loads(data: bytes):
    """JSON as RFC 8259 says: UTF-8, no NaN/Infinity, no duplicate keys, no overflowing numbers."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("request body is not valid UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant,
                           parse_float=_finite_float)
        if "\\u0000" in text:  # only an escape can put U+0000 in a string (a raw one is invalid JSON)
            _refuse_nul(value)
        return value
    except RecursionError:
        raise MalformedBody("JSON nested too deeply") from None
    except ValueError as error:
        if isinstance(error, MalformedBody):
            raise
        raise MalformedBody(f"request body is not valid JSON: {error}") from None


def _refuse_nul(value) -> None:
    """U+0000 is valid JSON but no text column can hold it (PostgreSQL refuses it; C strings end
    at it): refused here, the same on every back end, instead of failing in the database."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise MalformedBody("strings may not contain U+0000 (NUL)")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def has_nul(values) -> bool:
    return any("\x00" in value for value in values)


def _query_has_nul(args) -> bool:
    return has_nul(args.keys()) or has_nul(v for _, v in args.items(multi=True))


PAGINATION_ARGS = ("page", "page_size")


class QueryArgs(MultiDict):
    """One schema's part of the query. A key it lacks is answered without an exception: werkzeug's
    `get` raises and catches a `BadRequestKeyError` (an HTTP exception, built in full) for each one,
    and a schema asks for every field it has, most of them absent from a sync's query."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        if key not in self:
            return default
        return super().get(key, default, type)


def _in_part(key: str, fields) -> bool:
    """Whether a query key is for the schema with these fields (see `StrictParser.load_querystring`)."""
    paging = fields.keys() <= set(PAGINATION_ARGS)
    return (key in PAGINATION_ARGS) == paging or key in fields


@functools.cache
def _fills_nothing_in(argmap: type) -> bool:
    """A schema class that loads an empty mapping as an empty dict, whatever the request: not
    `many`, no field required or with a load default, no hook (pre/post load, schema validators)."""
    if not issubclass(argmap, ma.Schema):
        return False
    schema = argmap()
    return not schema.many and not argmap.resolve_hooks() and not any(
        field.required or field.load_default is not ma.missing for field in schema.fields.values())


class StrictParser(FlaskParser):
    """webargs parser that reads JSON strictly and refuses unknown fields (marshmallow RAISE), in
    the body and in the query: a misspelt filter is a 422, not a silently wider answer."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE, "querystring": ma.RAISE}

    def load_querystring(self, req, schema):
        """Each schema sees its own part of the query: flask-smorest's pagination the page
        parameters, a view's arguments the rest (so that each can refuse what it does not know)."""
        args = QueryArgs((key, value) for key, value in req.args.items(multi=True) if _in_part(key, schema.fields))
        return self._makeproxy(args, schema)

    def parse(self, argmap, req=None, *, location=None, validate=None, **kwargs):
        """A query whose part for `argmap` is empty (a mobile sync's list asks with page parameters
        only), for a schema that fills nothing in, loads as an empty dict: there is nothing to
        convert, to validate or to refuse, so the schema is not run."""
        if (validate is None and location in ("query", "querystring") and isinstance(argmap, type)
                and _fills_nothing_in(argmap)):
            fields = self._get_schema(argmap, req).fields
            if not any(_in_part(key, fields) for key in (req if req is not None else self.get_default_request()).args):
                return {}
        return super().parse(argmap, req, location=location, validate=validate, **kwargs)

    def _get_schema(self, argmap, req):
        """One instance per schema class, made on first use: webargs would build (and deep-copy the
        fields of) a new one for every request. Loading does not change a schema, so threads share it."""
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = _SCHEMAS.get(argmap)
            if schema is None:
                schema = _SCHEMAS.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return missing
        data = req.get_data(cache=True)
        if not data:
            return missing
        return strict_json_loads(data)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise MalformedBody(f"request body is not valid JSON: {error}")


def install(app: Flask) -> None:
    @app.before_request
    def _guard_nul():
        """NUL in the path, the query or a form field: 400 before any view or query sees it."""
        environ = request.environ
        query = environ.get("QUERY_STRING", "")
        # The query is parsed only when its raw text could hold a NUL (U+0000 is "%00" or itself).
        if "\x00" in request.path or (("%00" in query or "\x00" in query) and _query_has_nul(request.args)):
            raise MalformedRequest("the path and the query may not contain U+0000 (NUL)")
        if environ.get("REQUEST_METHOD") == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            form = request.form
            if has_nul(form.keys()) or has_nul(v for _, v in form.items(multi=True)):
                raise MalformedBody("form fields may not contain U+0000 (NUL)")
        return None

    @app.before_request
    def _guard_body():
        if request.method not in ("POST", "PUT", "PATCH") or request.url_rule is None:
            return None
        handler = method_view(app)
        media_types = getattr(handler, "_accepts", JSON_TYPES)
        limit = getattr(handler, "_max_bytes", None)
        if isinstance(limit, str):
            limit = getattr(settings(), limit)
        limit = limit or settings().max_json_bytes
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"the body is {request.content_length} bytes; this endpoint accepts at most {limit}")
        has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"
        if not request.path.startswith("/api/"):
            return None  # console forms: size-limited above, checked by their own views
        if has_body and request.mimetype not in media_types:
            raise UnsupportedMedia(f"send {' or '.join(media_types)}, not {request.mimetype or 'no Content-Type'}")
        return None
