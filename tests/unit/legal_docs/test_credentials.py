"""The C2PA manifest definition an exported image's credential asserts: pure, from the packet input."""
from dataclasses import replace

import pytest

from legal_docs.credentials import (
    CAPTURE_LABEL,
    DIGITAL_CAPTURE,
    REDACTION_LABEL,
    credentialed_file_name,
    manifest_definition,
    original_sha256,
)
from tests.legal_factories import make_packet_content


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    packet, _key = make_packet_content(tmp_path_factory.mktemp("in"), photos=2, pdf=False, audio=False,
                                       photo_size=(64, 48))
    exhibits = list(packet.exhibits)
    exhibits[1] = replace(exhibits[1], derived_from="ev-withheld-1", redaction_reason="bystander's face")
    return replace(packet, exhibits=tuple(exhibits))


def _assertion(definition, label):
    return next(a["data"] for a in definition["assertions"] if a["label"] == label)


def test_an_original_is_asserted_as_a_digital_capture_with_the_facts_the_packet_prints(content):
    exhibit = content.exhibits[0]
    definition = manifest_definition(content, exhibit)
    assert definition["format"] == "image/jpeg" and definition["title"] == "001_ev-photo-0001.jpg"
    assert definition["instance_id"] == "urn:fieldproof:pk-0001:exhibit:1" and "ingredients" not in definition
    assert _assertion(definition, "c2pa.actions.v2")["actions"] == [
        {"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE, "when": exhibit.captured_at.isoformat()}]
    capture = _assertion(definition, CAPTURE_LABEL)
    assert capture["original_sha256"] == capture["sha256"] == exhibit.sha256
    assert (capture["latitude"], capture["longitude"]) == (exhibit.lat, exhibit.lon)
    assert (capture["device"], capture["collector"], capture["zone"]) == (exhibit.device, exhibit.collector,
                                                                         exhibit.zone)
    assert capture["captured_local"] == exhibit.captured_local.isoformat()
    assert REDACTION_LABEL not in [a["label"] for a in definition["assertions"]]
    # nothing the packet masks: no account or national id, no debtor name
    text = repr(definition)
    assert "4321" not in text and "123X" not in text and content.case.debtor_name not in text


def test_a_redacted_derivative_names_its_withheld_original_as_parent_and_the_redaction(content):
    exhibit = content.exhibits[1]
    definition = manifest_definition(content, exhibit)
    assert original_sha256(content, exhibit) == "cd" * 32 != exhibit.sha256
    assert definition["ingredients"] == [{
        "title": "ev-withheld-1", "format": "image/jpeg", "relationship": "parentOf", "label": "original",
        "instance_id": f"urn:fieldproof:evidence:ev-withheld-1:sha256:{'cd' * 32}"}]
    assert _assertion(definition, "c2pa.actions.v2")["actions"] == [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["original"]}},
        {"action": "c2pa.edited", "description": "Redacted: bystander's face"}]
    assert _assertion(definition, REDACTION_LABEL) == {
        "original_evidence_id": "ev-withheld-1", "original_sha256": "cd" * 32,
        "redacted_evidence_id": exhibit.evidence_id, "redacted_sha256": exhibit.sha256,
        "reason": "bystander's face", "original_withheld_because": "third parties present without consent"}
    assert _assertion(definition, CAPTURE_LABEL)["original_sha256"] == "cd" * 32


def test_a_derivative_whose_original_the_packet_does_not_list_is_refused(content):
    orphan = replace(content.exhibits[1], derived_from="ev-unknown")
    with pytest.raises(ValueError, match="ev-unknown"):
        manifest_definition(content, orphan)


def test_the_credentialed_copy_sits_beside_its_original():
    class Named:
        number, evidence_id, media_type = 7, "ev/1 x", "image/png"

    assert credentialed_file_name(Named()) == "exhibits/007_ev_1_x.c2pa.png"
