"""Page through a query without loading the whole result."""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, func, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# Past any table this can hold, and beyond it SQL's 64-bit OFFSET would overflow (page=10**30).
MAX_OFFSET = 1 << 62


@dataclass(frozen=True)
class Listing:
    """A domain query built once (its values as bound parameters) and the values of one request:
    the statement object is reused, so SQLAlchemy neither rebuilds it nor computes its cache key
    again — the most frequent list (a collector's sync) pays for its query, not for making it.

    `row` set: the query selects plain columns (SQLAlchemy Core, no ORM entity), and `row` makes each
    item from a result row's values, e.g. a named tuple of them. Such a page is read by `_PageReader`
    on the session's own DBAPI cursor, without the ORM or SQLAlchemy's execution machinery; nothing
    pending in the session is flushed first, so it is for reading views."""

    query: Select
    params: Mapping = field(default_factory=dict)
    row: Callable[[tuple], Any] | None = None


@functools.lru_cache(maxsize=64)
def _paged(query: Select) -> Select:
    """The page statement of a reused query: the window total and bound LIMIT/OFFSET."""
    return (query.add_columns(func.count().over())
            .limit(bindparam("page_limit", type_=BigInteger)).offset(bindparam("page_offset", type_=BigInteger)))


def page_of(session: Session, query: Select | Listing, page: int, page_size: int) -> tuple[list, int]:
    """One page of `query`'s first column and the total, in one round trip: `count(*) OVER ()` is
    computed over the whole filtered result before LIMIT/OFFSET. Only a page past the end (no row to
    carry the total) costs a separate count. Not for queries with DISTINCT (the window counts rows
    before it); none of the paged queries has one."""
    listing = query if isinstance(query, Listing) else Listing(query)
    offset = (page - 1) * page_size
    if offset <= MAX_OFFSET:
        if isinstance(query, Listing):
            statement = _paged(listing.query)
            params = {**listing.params, "page_limit": page_size, "page_offset": offset}
        else:
            statement, params = query.add_columns(func.count().over()).limit(page_size).offset(offset), {}
        if listing.row is None:
            rows = session.execute(statement, params).all()
            items = [row[0] for row in rows]
        else:
            connection = session.connection()
            rows = _reader(statement, connection.dialect).read(connection, params)
            make = listing.row
            items = [make(row[:-1]) for row in rows]
        if rows or page == 1:
            return items, rows[0][-1] if rows else 0
    count = select(func.count()).select_from(listing.query.order_by(None).subquery())
    return [], session.scalar(count, listing.params)


class _PageReader:
    """A Listing's page statement for one dialect: compiled once, run on the DBAPI cursor of the
    session's connection, values converted by each column type's result processor.

    Why not `Connection.execute`: the sync's page is the most frequent request, and SQLAlchemy's
    per-execution work (execution context, cursor description, result objects) cost it more than the
    driver's own. SQLAlchemy still writes the SQL and converts every value in and out (the types'
    `bind_processor` and `result_processor`), so a row reads as `Connection.execute` reads it; driver
    errors come out as SQLAlchemy's, and a lost connection is invalidated as SQLAlchemy would."""

    def __init__(self, statement: Select, dialect: Dialect):
        named = type(dialect)(paramstyle="named") if dialect.paramstyle in ("qmark", "format", "numeric") else dialect
        self.compiled = statement.compile(dialect=named)
        self.sql = str(self.compiled)
        self.dialect = dialect
        self.bind = [(name, process) for name, bind in self.compiled.binds.items()
                     if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        self.types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        self.result: list[tuple[int, Callable]] | None = None  # from the first result's column types

    def read(self, connection: Connection, params: Mapping) -> list[tuple]:
        values = self.compiled.construct_params(params)
        for name, process in self.bind:
            values[name] = process(values[name])
        fairy = connection.connection
        cursor = None
        try:
            cursor = fairy.cursor()  # inside: a connection closed under us refuses its cursor already
            cursor.execute(self.sql, values)
            if self.result is None:
                self.result = [(i, process) for i, (kind, column) in enumerate(zip(self.types, cursor.description))
                               if (process := kind.result_processor(self.dialect, column[1])) is not None]
            rows = cursor.fetchall()
        except self.dialect.loaded_dbapi.Error as error:
            lost = self.dialect.is_disconnect(error, fairy, cursor)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(self.sql, values, error, self.dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=self.dialect) from error
        finally:
            if cursor is not None:
                cursor.close()
        if not self.result:
            return rows
        converted = []
        for row in rows:
            row = list(row)
            for i, process in self.result:
                row[i] = process(row[i])
            converted.append(row)
        return converted


@functools.lru_cache(maxsize=64)
def _reader(statement: Select, dialect: Dialect) -> _PageReader:
    return _PageReader(statement, dialect)
