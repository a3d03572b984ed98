"""The Blueprint every resource uses: strict JSON, documented pagination header."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from functools import wraps

import flask_smorest
import psycopg
from flask import current_app, jsonify, request
from flask_smorest.pagination import PaginationParameters
from psycopg import pq
from sqlalchemy import Engine, Select, String, bindparam, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from api.auth import current_actor
from api.context import db_session, runtime
from api.requests import StrictParser
from api.shapes import Shape
from core.actor import Actor
from core.paging import MAX_OFFSET, page_of


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()
    PAGINATION_ARGUMENTS_PARSER = StrictParser()

    @staticmethod
    def _make_pagination_metadata(page, page_size, item_count):
        """flask-smorest's metadata, without dumping it through a new schema on every page."""
        metadata = {"total": item_count}
        if item_count == 0:
            metadata["total_pages"] = 0
            return metadata
        last_page = (item_count - 1) // page_size + 1
        metadata.update(total_pages=last_page, first_page=1, last_page=last_page)
        if page <= last_page:
            metadata["page"] = page
            if page > 1:
                metadata["previous_page"] = page - 1
            if page < last_page:
                metadata["next_page"] = page + 1
        return metadata

    def _document_pagination_metadata(self, spec, resp_doc):
        # flask-smorest sends the metadata as a JSON string in the header; describe it as such.
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "JSON object: total, total_pages, first_page, last_page, page, previous_page, next_page",
            "schema": {"type": "string"},
        }


def paginated(query: Select, pagination_parameters) -> list:
    """One page and the total for `X-Pagination` in one round trip: `count(*) OVER ()` is computed
    over the whole filtered result before LIMIT/OFFSET. Only a page past the end (no row to carry
    the total) costs the separate count. Queries with DISTINCT or GROUP BY keep the two queries."""
    page, size = pagination_parameters.page, pagination_parameters.page_size
    if query._distinct or query._group_by_clauses or (page - 1) * size > MAX_OFFSET:
        items, total = page_of(db_session(), query, page, size)
    else:
        rows = db_session().execute(query.add_columns(func.count().over().label("_total"))
                                    .limit(size).offset((page - 1) * size)).all()
        items = [row[0] for row in rows]
        total = rows[0][-1] if rows else (0 if page == 1 else page_of(db_session(), query, page, size)[1])
    pagination_parameters.item_count = total
    return items


_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
PAGINATION = Blueprint.DEFAULT_PAGINATION_PARAMETERS


def plain_page(query, shape: Shape):
    """Answer the common page request — a query string of nothing but `page` and/or `page_size`,
    well-formed and in range — without webargs, flask-smorest's wrappers and marshmallow: the
    mobile sync sends exactly that, many times a minute per collector. `query(actor)` gives the
    view's Select (the domain's own, with its visibility rules), `shape` the response schema's
    JSON for a row of the entity's columns (kept equal to it by a test). Anything else (a filter,
    a malformed or out-of-range value, a repeated key) goes on to the decorated view, whose schemas
    parse, refuse and document it; its `_apidoc` is carried over, so the OpenAPI document is
    unchanged.

    The page statement is built once per role (`PageStatements`), with the actor's id, the page
    size and the offset as bound parameters: building the domain's Select, adding the window count
    and hashing the result for SQLAlchemy's compiled cache cost about a third of the request. On
    PostgreSQL the database writes the page's JSON (`Shape.page_sql`) on a connection of the
    read-only pool, without an ORM session; elsewhere Python renders Core rows."""

    statements = PageStatements(query, shape)

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            page_params = _plain_page_parameters()
            if page_params is None:
                return view(*args, **kwargs)
            actor = current_actor()
            page, size = page_params.page, page_params.page_size
            database = runtime().db
            statement = statements.for_role(actor.role, database.dialect)
            if statement is None or (page - 1) * size > MAX_OFFSET:
                response = jsonify([shape.render(item) for item in paginated(query(actor), page_params)])
            else:
                params = {PageStatements.ACTOR_ID: actor.id, "plain_page_limit": size,
                          "plain_page_offset": (page - 1) * size}
                if statement.sql is not None:
                    body, total = statement.json_page(database.reader_engine, params)
                    response = current_app.response_class(body, mimetype="application/json")
                else:
                    rows = db_session().connection().execute(statement.select, params).all()
                    total = rows[0][-1] if rows else None
                    response = jsonify([shape.render(row) for row in rows])
                if total is not None:
                    page_params.item_count = total
                elif page == 1:
                    page_params.item_count = 0
                else:  # past the end: no row carries the total
                    page_params.item_count = page_of(db_session(), query(actor), page, size)[1]
            metadata = Blueprint._make_pagination_metadata(page, size, page_params.item_count)
            response.headers[Blueprint.PAGINATION_HEADER_NAME] = json.dumps(metadata)
            return response

        return wrapper

    return decorator


@dataclass(frozen=True)
class PageStatement:
    select: Select
    sql: str | None = None  # PostgreSQL: `select` compiled once ($n parameters); one row, the JSON page and the total
    parameters: tuple[str, ...] = ()  # the names of $1, $2, ...
    # Its prepared statement's name on a connection: the text's digest, so that two statements
    # never share one and a connection prepares each once.
    name: bytes = field(init=False, default=b"")

    def __post_init__(self):
        if self.sql is not None:
            digest = hashlib.sha256(self.sql.encode()).hexdigest()[:24]
            object.__setattr__(self, "name", f"fieldproof_page_{digest}".encode())

    def json_page(self, engine: Engine, params: dict) -> tuple[bytes, int | None]:
        """Run on a DBAPI connection of the read-only pool, through libpq: SQLAlchemy's per-execution
        work (cache lookup, transaction bookkeeping, result metadata) and then psycopg's (adapting
        the parameters, its prepare bookkeeping, loading the row) each cost as much as libpq's round
        trip, on the statement the mobile sync runs several times a minute per collector. Its
        parameters are text, its answer one row of text (the page's UTF-8 JSON, sent as it is) and
        the statement is prepared once per connection (the set lives in the pool record's `info`,
        which SQLAlchemy clears when it replaces the connection). Errors are psycopg's, raised as
        SQLAlchemy's as on every other path (a lost connection invalidates the pool and answers 503)."""
        connection = engine.raw_connection()
        try:
            dbapi = connection.dbapi_connection
            values = [str(params[name]).encode() for name in self.parameters]
            prepared = connection.info.setdefault("page_statements", set())
            name = self.name
            if name not in prepared:
                self._prepare(dbapi)
                prepared.add(name)
            result = dbapi.pgconn.exec_prepared(name, values)
            if result.status == pq.ExecStatus.FATAL_ERROR and result.error_field(SQLSTATE) == UNDEFINED_STATEMENT:
                # The server forgot it (a DISCARD ALL, a pooler in between): prepared again, once.
                self._prepare(dbapi)
                result = dbapi.pgconn.exec_prepared(name, values)
            _expect(dbapi, result, pq.ExecStatus.TUPLES_OK)
            body, total = result.get_value(0, 0), result.get_value(0, 1)
            return body, None if total is None else int(total)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
                connection.invalidate(error)
                engine.dispose(close=False)  # as SQLAlchemy does: the pool's other connections are suspect too
            raise DBAPIError.instance(self.sql, params, error, engine.dialect.loaded_dbapi.Error) from error
        finally:
            connection.close()

    def _prepare(self, dbapi_connection) -> None:
        result = dbapi_connection.pgconn.prepare(self.name, self.sql.encode(), None)
        if result.status == pq.ExecStatus.FATAL_ERROR and result.error_field(SQLSTATE) == DUPLICATE_STATEMENT:
            return  # already there (its name is its text's digest): a pooler's server connection kept it
        _expect(dbapi_connection, result, pq.ExecStatus.COMMAND_OK)


SQLSTATE = pq.DiagnosticField.SQLSTATE
UNDEFINED_STATEMENT, DUPLICATE_STATEMENT = b"26000", b"42P05"


def _expect(dbapi_connection, result, status) -> None:
    """psycopg's errors for a libpq result: a lost connection is an OperationalError (as psycopg
    raises it, and as the app answers it: 503), anything else the error its SQLSTATE names."""
    if result.status == status:
        return
    if dbapi_connection.pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError(result.error_message.decode(errors="replace").strip())
    raise psycopg.errors.error_from_result(result, encoding=dbapi_connection.info.encoding)


class PageStatements:
    """A list view's one-query page statement (`paginated`'s: the page and `count(*) OVER ()`),
    built once per role and back end from the domain's query with the actor's id as a bound
    parameter; on PostgreSQL wrapped by `Shape.page_sql`, so the database writes the JSON.

    Visibility is decided by role and expressed in SQL with the actor's id (`visible_visits`), so
    one statement serves every actor of a role; executing the same statement object also reuses
    SQLAlchemy's cache key (memoised on it) instead of rebuilding it per request. A domain query
    that used the id in Python rather than in SQL would fail loudly here (a bound parameter has no
    truth value and no string methods); a query with DISTINCT or GROUP BY is not cached (None:
    `paginated` decides per request)."""

    ACTOR_ID = "plain_page_actor_id"
    made: list[PageStatements] = []  # every list view's, for a worker's warm-up (api/warmup.py)

    def __init__(self, query, shape: Shape):
        self.query = query
        self.shape = shape
        self._built: dict[tuple[str, str], PageStatement | None] = {}
        self._lock = threading.Lock()
        PageStatements.made.append(self)

    def for_role(self, role: str, dialect: str) -> PageStatement | None:
        try:
            return self._built[role, dialect]
        except KeyError:
            pass
        with self._lock:
            if (role, dialect) not in self._built:
                self._built[role, dialect] = self._build(role, dialect)
            return self._built[role, dialect]

    def _build(self, role: str, dialect: str) -> PageStatement | None:
        template = Actor(id=bindparam(self.ACTOR_ID, type_=String()), role=role)
        base = self.query(template)
        if base._distinct or base._group_by_clauses:
            return None
        # The entity's columns, not the entity: rows come back as Core rows, whose attributes are
        # the column names the shape reads, without the ORM's loading.
        table = base.column_descriptions[0]["entity"].__table__
        page = (base.with_only_columns(*table.columns, func.count().over().label("_total"),
                                       maintain_column_froms=True)
                .limit(bindparam("plain_page_limit")).offset(bindparam("plain_page_offset")))
        if dialect == "postgresql":
            json_page = self.shape.page_sql(page, base._order_by_clauses)
            compiled = json_page.compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
            if not set(compiled.params) <= {self.ACTOR_ID, "plain_page_limit", "plain_page_offset"}:
                raise ValueError(f"the page statement has parameters of its own: {sorted(compiled.params)}")
            return PageStatement(json_page, str(compiled), tuple(compiled.positiontup))
        return PageStatement(page)


def _plain_page_parameters() -> PaginationParameters | None:
    page, page_size = PAGINATION["page"], PAGINATION["page_size"]
    for name, values in request.args.lists():
        if len(values) != 1 or not _PAGE_NUMBER.fullmatch(values[0]):
            return None
        if name == "page":
            page = int(values[0])
        elif name == "page_size" and int(values[0]) <= PAGINATION["max_page_size"]:
            page_size = int(values[0])
        else:
            return None
    return PaginationParameters(page, page_size)
