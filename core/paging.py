"""Page through a query without loading the whole result."""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Select, bindparam, func, select
from sqlalchemy.orm import Session

# Past any table this can hold, and beyond it SQL's 64-bit OFFSET would overflow (page=10**30).
MAX_OFFSET = 1 << 62


@dataclass(frozen=True)
class Listing:
    """A domain query built once (its values as bound parameters) and the values of one request:
    the statement object is reused, so SQLAlchemy neither rebuilds it nor computes its cache key
    again — the most frequent list (a collector's sync) pays for its query, not for making it."""

    query: Select
    params: Mapping = field(default_factory=dict)


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
        rows = session.execute(statement, params).all()
        if rows or page == 1:
            return [row[0] for row in rows], rows[0][-1] if rows else 0
    count = select(func.count()).select_from(listing.query.order_by(None).subquery())
    return [], session.scalar(count, listing.params)
