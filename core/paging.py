"""Page through a query without loading the whole result."""
from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


# Past any table this can hold, and beyond it SQL's 64-bit OFFSET would overflow (page=10**30).
MAX_OFFSET = 1 << 62


def page_of(session: Session, query: Select, page: int, page_size: int) -> tuple[list, int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    if (page - 1) * page_size > MAX_OFFSET:
        return [], total
    items = list(session.scalars(query.limit(page_size).offset((page - 1) * page_size)))
    return items, total
