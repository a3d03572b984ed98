"""The custodian declaration states the trusted time (or that the stamp is pending) and the witnesses, in both languages."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from legal_docs.content import CheckpointStamp
from legal_docs.render import _environment
from tests.legal_factories import make_packet_content

STAMPED_AT = datetime(2026, 3, 9, 8, 31, 2, tzinfo=timezone.utc)
LINE = "\u2014 audit.example/w " + "A" * 100 + "\n"


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    content, _key = make_packet_content(tmp_path_factory.mktemp("decl"), photos=1, pdf=False, audio=False)
    return content


def declaration(content, language, family):
    content = replace(content, language=language)
    return _environment().get_template(f"{language}/declaration.html").render(content=content, family=family)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("family", ["US", "CN", "IN"])
def test_a_stamped_cosigned_checkpoint_is_stated_with_its_trusted_time_and_witnesses(content, language, family):
    stamp = CheckpointStamp(b"token", "http://tsa.example/tsr", STAMPED_AT, "", b"note")
    stamped = replace(content, ledger=replace(content.ledger, timestamp=stamp, cosignatures=(LINE,)))
    html = declaration(stamped, language, family)
    assert "2026-03-09 08:31:02 UTC" in html and "http://tsa.example/tsr" in html
    assert "audit.example/w" in html
    assert ("RFC 3161" in html) and (("cosigned" in html) if language == "en" else ("联署" in html))


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_pending_stamp_says_so_and_how_to_obtain_it(content, language):
    pending = replace(content, ledger=replace(content.ledger, stamp_pending=True))
    html = declaration(pending, language, "CN")
    assert "/api/v1/ledger/checkpoints" in html
    assert ("pending" in html) if language == "en" else ("待补" in html)
    assert "UTC</b>" not in html
    assert ("No independent witness" in html) if language == "en" else ("尚无独立见证方" in html)
