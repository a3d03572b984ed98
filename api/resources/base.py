"""The Blueprint every resource uses: strict JSON, documented pagination header."""
from __future__ import annotations

import flask_smorest
from sqlalchemy import Select

from api.context import db_session
from api.requests import StrictParser
from core.paging import page_of


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()
    PAGINATION_ARGUMENTS_PARSER = StrictParser()

    def _document_pagination_metadata(self, spec, resp_doc):
        # flask-smorest sends the metadata as a JSON string in the header; describe it as such.
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "JSON object: total, total_pages, first_page, last_page, page, previous_page, next_page",
            "schema": {"type": "string"},
        }


def paginated(query: Select, pagination_parameters) -> list:
    items, total = page_of(db_session(), query, pagination_parameters.page, pagination_parameters.page_size)
    pagination_parameters.item_count = total
    return items
