"""The Blueprint every resource uses: strict JSON, documented pagination header, ETags whose
If-Match is optional unless the deployment requires it."""
from __future__ import annotations

import flask_smorest
from flask import abort, current_app, request

from api.context import db_session, settings
from api.requests import StrictParser
from core.paging import page_of


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()
    PAGINATION_ARGUMENTS_PARSER = StrictParser()

    @staticmethod
    def _make_pagination_metadata(page, page_size, item_count):
        """flask-smorest's documented hook: its metadata, without a new schema to dump it on every page."""
        metadata = {"total": item_count, "total_pages": 0 if item_count == 0 else (item_count - 1) // page_size + 1}
        if item_count:
            last_page = metadata["total_pages"]
            metadata.update(first_page=1, last_page=last_page)
            if page <= last_page:
                metadata["page"] = page
                if page > 1:
                    metadata["previous_page"] = page - 1
                if page < last_page:
                    metadata["next_page"] = page + 1
        return metadata

    def _document_pagination_metadata(self, spec, resp_doc):
        # flask-smorest's documented hook: it sends the metadata as a JSON string; describe it as such.
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "JSON object: total, total_pages, first_page, last_page, page, previous_page, next_page",
            "schema": {"type": "string"},
        }

    # ETags (flask-smorest's `@blp.etag`): the tag is the SHA-1 of the JSON representation, which
    # carries `updated_at` (bumped by every write to the row), so two states never share one.
    # A write with a stale If-Match is 412; one without If-Match goes ahead unless
    # FIELDPROOF_REQUIRE_IF_MATCH is set (then 428), so existing clients keep working.

    def _check_precondition(self):
        if settings().require_if_match:
            super()._check_precondition()

    def check_etag(self, etag_data, etag_schema=None):
        if request.if_match:
            super().check_etag(etag_data, etag_schema)

    def _verify_check_etag(self):
        if request.if_match:
            super()._verify_check_etag()

    def _check_not_modified(self, etag):
        """flask-smorest's 304 carries no ETag; RFC 9110 asks for the one a 200 would have sent."""
        if request.method in self.METHODS_CHECKING_NOT_MODIFIED and etag in request.if_none_match:
            response = current_app.response_class(status=304)
            response.set_etag(etag)
            abort(response)


def paginated(query, pagination_parameters) -> list:
    """The requested page of the domain's query; its total goes to `X-Pagination` (core.paging)."""
    items, pagination_parameters.item_count = page_of(db_session(), query, pagination_parameters.page,
                                                      pagination_parameters.page_size)
    return items
