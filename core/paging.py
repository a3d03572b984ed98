"""Page through a query without loading the whole result."""
from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

# Past any table this can hold, and beyond it SQL's 64-bit OFFSET would overflow (page=10**30).
MAX_OFFSET = 1 << 62


def page_of(session: Session, query: Select, page: int, page_size: int) -> tuple[list, int]:
    """One page of `query`'s first column and the total, in one round trip: `count(*) OVER ()` is
    computed over the whole filtered result before LIMIT/OFFSET. Only a page past the end (no row to
    carry the total) costs a separate count. Not for queries with DISTINCT (the window counts rows
    before it); none of the paged queries has one."""
    offset = (page - 1) * page_size
    if offset <= MAX_OFFSET:
        rows = session.execute(query.add_columns(func.count().over()).limit(page_size).offset(offset)).all()
        if rows or page == 1:
            return [row[0] for row in rows], rows[0][-1] if rows else 0
    return [], session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
