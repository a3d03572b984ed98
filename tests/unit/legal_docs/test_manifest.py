import base64
import json
from dataclasses import replace

import pytest
from cryptography.exceptions import InvalidSignature
import rfc8785

from custody.ledger.checkpoint import Checkpoint
from legal_docs.manifest import (
    MANIFEST_FORMAT,
    BundleFile,
    ExhibitPlacement,
    Pagination,
    VolumePlacement,
    build_manifest,
    exhibit_file_name,
    sign_manifest,
)
from tests.legal_factories import make_packet_content


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    return make_packet_content(tmp_path_factory.mktemp("manifest"), photos=2)


def _files(content):
    return [BundleFile(exhibit_file_name(e), e.sha256, e.size, "exhibit") for e in content.exhibits]


def _pagination(content):
    exhibits = tuple(ExhibitPlacement(e.number, 1, 4 + e.number, 4 + e.number) for e in content.exhibits)
    return Pagination(exhibits, (VolumePlacement(1, "pdf/FP_vol01.pdf", 12, 1, 12),))


def test_same_inputs_give_identical_bytes(packet, tmp_path):
    content, _ = packet
    first = build_manifest(content, _files(content), _pagination(content))
    again = build_manifest(content, list(reversed(_files(content))), _pagination(content))
    assert first == again
    rebuilt, _ = make_packet_content(tmp_path / "again", photos=2)
    assert build_manifest(rebuilt, _files(rebuilt), _pagination(rebuilt)) == first


def test_manifest_is_canonical_json(packet):
    content, _ = packet
    data = build_manifest(content, _files(content), _pagination(content))
    assert rfc8785.dumps(json.loads(data)) == data
    assert json.loads(data)["format"] == MANIFEST_FORMAT


def test_manifest_lists_every_file_and_every_exhibits_proofs(packet):
    content, _ = packet
    manifest = json.loads(build_manifest(content, _files(content), _pagination(content)))
    assert [f["path"] for f in manifest["files"]] == sorted(exhibit_file_name(e) for e in content.exhibits)
    for exhibit, entry in zip(content.exhibits, manifest["exhibits"]):
        assert entry["sha256"] == exhibit.sha256
        assert entry["bates_first"] == f"FP{4 + exhibit.number:06d}"
        assert [e["leaf"].encode() for e in entry["custody"]] == [e.leaf for e in exhibit.custody]
        assert [e["audit_path"] for e in entry["custody"]] == [list(e.audit_path) for e in exhibit.custody]
    checkpoint = Checkpoint.parse(manifest["checkpoint"]["body"].encode())
    assert checkpoint.root_hash_hex == manifest["checkpoint"]["root_hash"]
    assert base64.b64decode(manifest["checkpoint"]["signature"]) == content.ledger.signature
    assert manifest["volumes"][0]["bates_last"] == "FP000012"


def test_any_input_change_changes_the_bytes(packet):
    content, _ = packet
    base = build_manifest(content, _files(content), _pagination(content))
    retitled = replace(content, exhibits=(replace(content.exhibits[0], title="other"),) + content.exhibits[1:])
    assert build_manifest(retitled, _files(content), _pagination(content)) != base
    assert build_manifest(content, _files(content)[:-1], _pagination(content)) != base
    assert build_manifest(content, _files(content), None) != base
    assert build_manifest(content, _files(content), _pagination(content), embedded_manifest_sha256="0" * 64) != base


def test_manifest_has_no_bates_numbers_without_a_pagination(packet):
    content, _ = packet
    manifest = json.loads(build_manifest(content, _files(content)))
    assert "volumes" not in manifest
    assert all("bates_first" not in e for e in manifest["exhibits"])


def test_signature_verifies_with_the_public_key_and_only_over_the_same_bytes(packet):
    content, key = packet
    data = build_manifest(content, _files(content))
    signature = sign_manifest(key, data)
    assert len(signature) == 64
    key.public_key().verify(signature, data)
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signature, data + b" ")


def test_exhibit_file_names_sort_in_exhibit_order_and_are_safe(packet):
    content, _ = packet
    odd = replace(content.exhibits[0], evidence_id="../../etc/passwd", number=12, media_type="audio/mp4")
    assert exhibit_file_name(odd) == "exhibits/012_______etc_passwd.m4a"
    names = [exhibit_file_name(e) for e in content.exhibits]
    assert names == sorted(names)
