"""Content credentials on exported images: built into a real bundle, read back with c2pa's Reader."""
import hashlib
import json
import zipfile
from dataclasses import replace

import pytest
import rfc8785

from core.errors import IntegrityFailure
from core.keys import C2PA_ROOT_NAME, write_development_content_credentials
from legal_docs.bundle import write_bundle
from legal_docs.credentials import (
    CAPTURE_LABEL,
    REDACTION_LABEL,
    UNTRUSTED,
    ContentCredentialSigner,
    read_credentials,
)
from legal_docs.manifest import sign_manifest
from legal_docs.render import render_packet
from legal_docs.verify_bundle import verify_bundle
from tests.legal_factories import make_packet_content

WITHHELD_SHA256 = "cd" * 32  # the sample packet's withheld original (see tests/legal_factories.py)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A bundle of three photos, the second a redacted copy of the packet's withheld original."""
    base = tmp_path_factory.mktemp("credentials")
    content, key = make_packet_content(base / "in", photos=3, pdf=False, audio=False, photo_size=(640, 480))
    exhibits = list(content.exhibits)
    exhibits[1] = replace(exhibits[1], derived_from="ev-withheld-1", redaction_reason="bystander's face")
    withheld = (replace(content.withheld[0], replaced_by_exhibit=2),)
    content = replace(content, exhibits=tuple(exhibits), withheld=withheld)
    credential_key = write_development_content_credentials(base / "keys" / "chain.pem", base / "keys" / "key.pem",
                                                           "Example Collections Ltd")
    originals = {e.number: e.path.read_bytes() for e in content.exhibits}
    rendered = render_packet(content, base / "out")
    path = base / "bundle.zip"
    write_bundle(path, content, rendered, key, ContentCredentialSigner(credential_key))
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return {"path": path, "content": content, "key": key, "files": files, "originals": originals,
            "manifest": json.loads(files["manifest.json"]), "root": (base / "keys" / C2PA_ROOT_NAME).read_bytes(),
            "fingerprint": credential_key.fingerprint, "certificate": credential_key.certificate, "base": base}


def test_every_image_ships_unchanged_and_as_a_credentialed_copy_and_the_bundle_verifies(built):
    manifest, files = built["manifest"], built["files"]
    report = verify_bundle(built["path"])
    assert report.ok, report.failures
    assert report.credentials_checked == 3
    certificate = built["certificate"]
    assert manifest["content_credentials"] == {
        "format": "C2PA", "certificate_sha256": built["fingerprint"], "certificate_serial": str(certificate.serial_number),
        "certificate_subject": certificate.subject.rfc4514_string()}
    listed = {f["path"]: f for f in manifest["files"]}
    for exhibit in manifest["exhibits"]:
        original, copy = exhibit["file"], exhibit["content_credentials"]
        # the original's bytes are exactly the stored ones; the credentialed copy differs and is listed too
        assert files[original] == built["originals"][exhibit["number"]]
        assert hashlib.sha256(files[original]).hexdigest() == exhibit["sha256"]
        assert copy["file"] == original.replace(".jpg", ".c2pa.jpg")
        assert hashlib.sha256(files[copy["file"]]).hexdigest() == copy["sha256"] != exhibit["sha256"]
        assert listed[copy["file"]] == {"path": copy["file"], "sha256": copy["sha256"], "size": copy["size"],
                                        "role": "credentialed_copy"}
    originals = [e["content_credentials"]["original_sha256"] for e in manifest["exhibits"]]
    assert originals == [manifest["exhibits"][0]["sha256"], WITHHELD_SHA256, manifest["exhibits"][2]["sha256"]]
    for exhibit in built["content"].exhibits:  # the files in storage were never touched
        assert exhibit.path.read_bytes() == built["originals"][exhibit.number]


def test_the_readers_verdict_is_valid_signature_and_binding_and_trusted_only_with_the_pinned_root(built):
    for exhibit in built["manifest"]["exhibits"]:
        data = built["files"][exhibit["content_credentials"]["file"]]
        alone = read_credentials(data, "image/jpeg")
        # no trust list: signature, hard binding and assertions valid; the one failure is the untrusted signer
        assert alone.state == "Valid" and alone.failures == (UNTRUSTED,) and alone.sound
        pinned = read_credentials(data, "image/jpeg", trust_anchors_pem=built["root"])
        assert pinned.state == "Trusted" and pinned.failures == ()
        assert pinned.original_sha256 == exhibit["content_credentials"]["original_sha256"]
        capture = pinned.assertion(CAPTURE_LABEL)
        assert capture["evidence_id"] == exhibit["evidence_id"] and capture["sha256"] == exhibit["sha256"]
        assert capture["captured_at"] == exhibit["captured_at"] and capture["latitude"] == pytest.approx(31.230416)
        assert capture["packet_id"] == "pk-0001" and capture["exhibit"] == exhibit["number"]


def test_an_original_is_a_capture_and_a_derivative_names_its_redaction_and_original(built):
    first, derived = (built["files"][e["content_credentials"]["file"]] for e in built["manifest"]["exhibits"][:2])
    original = read_credentials(first, "image/jpeg")
    assert original.actions == ["c2pa.created"] and original.assertion(REDACTION_LABEL) is None
    assert "ingredients" not in original.manifest
    redacted = read_credentials(derived, "image/jpeg")
    assert redacted.actions == ["c2pa.opened", "c2pa.edited"]
    edit = redacted.assertion("c2pa.actions.v2")["actions"][1]
    assert edit["description"] == "Redacted: bystander's face"
    assert redacted.assertion(REDACTION_LABEL) == {
        "original_evidence_id": "ev-withheld-1", "original_sha256": WITHHELD_SHA256,
        "redacted_evidence_id": "ev-photo-0002", "redacted_sha256": built["manifest"]["exhibits"][1]["sha256"],
        "reason": "bystander's face", "original_withheld_because": "third parties present without consent"}
    [ingredient] = redacted.manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf" and ingredient["title"] == "ev-withheld-1"
    assert WITHHELD_SHA256 in ingredient["instance_id"]
    assert redacted.original_sha256 == WITHHELD_SHA256
    assert "thumbnail" not in json.dumps(redacted.manifest)  # no picture of the withheld original rides along


def _flip_in_image_data(data: bytes) -> bytes:
    """Flip one bit in the compressed scan data, well past the manifest and before the end marker."""
    tampered = bytearray(data)
    tampered[len(data) - 64] ^= 0x01
    return bytes(tampered)


def test_a_tampered_exported_image_fails_validation(built):
    data = built["files"][built["manifest"]["exhibits"][0]["content_credentials"]["file"]]
    tampered = read_credentials(_flip_in_image_data(data), "image/jpeg", trust_anchors_pem=built["root"])
    assert tampered.state == "Invalid" and not tampered.sound
    assert "assertion.dataHash.mismatch" in tampered.failures


def _resigned(built, target, change_file, edit_manifest):
    """Rewrite the bundle as an insider with the manifest signing key could: file, manifest and signature."""
    with zipfile.ZipFile(built["path"]) as source, zipfile.ZipFile(target, "w") as out:
        manifest = json.loads(source.read("manifest.json"))
        edit_manifest(manifest)
        body = rfc8785.dumps(manifest)
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "manifest.json":
                data = body
            elif info.filename == "manifest.sig":
                data = sign_manifest(built["key"], body)
            else:
                data = change_file(info.filename, data)
            out.writestr(info, data)
    return verify_bundle(target)


def test_verify_bundle_catches_a_tampered_copy_even_when_the_manifest_lists_its_new_hash(built, tmp_path):
    exhibit = built["manifest"]["exhibits"][2]
    name = exhibit["content_credentials"]["file"]
    tampered = _flip_in_image_data(built["files"][name])
    digest = hashlib.sha256(tampered).hexdigest()

    def edit(manifest):
        for entry in manifest["files"]:
            if entry["path"] == name:
                entry["sha256"] = digest
        manifest["exhibits"][2]["content_credentials"]["sha256"] = digest

    report = _resigned(built, tmp_path / "tampered.zip", lambda n, d: tampered if n == name else d, edit)
    assert [(f.subject, f.problem) for f in report.failures] == [("exhibit 3", "credentials_invalid")]
    assert "assertion.dataHash.mismatch" in report.failures[0].message


def test_verify_bundle_catches_a_copy_that_names_another_original(built, tmp_path):
    def edit(manifest):
        manifest["exhibits"][1]["content_credentials"]["original_sha256"] = "ab" * 32

    report = _resigned(built, tmp_path / "other.zip", lambda n, d: d, edit)
    problems = [(f.subject, f.problem) for f in report.failures]
    assert problems == [("exhibit 2", "credentials_original_mismatch")] * 2


def test_a_plain_copy_of_the_original_passed_off_as_the_credentialed_one_fails(built, tmp_path):
    exhibit = built["manifest"]["exhibits"][0]
    name, plain = exhibit["content_credentials"]["file"], built["files"][exhibit["file"]]

    def edit(manifest):
        for entry in manifest["files"]:
            if entry["path"] == name:
                entry["sha256"], entry["size"] = exhibit["sha256"], exhibit["size"]
        manifest["exhibits"][0]["content_credentials"].update(sha256=exhibit["sha256"], size=exhibit["size"])

    report = _resigned(built, tmp_path / "plain.zip", lambda n, d: plain if n == name else d, edit)
    assert [(f.subject, f.problem) for f in report.failures][:1] == [("exhibit 1", "credentials_invalid")]


def test_an_original_changed_since_assembly_is_never_credentialed(built, tmp_path):
    exhibit = built["content"].exhibits[0]
    changed = tmp_path / "changed.jpg"
    changed.write_bytes(_flip_in_image_data(exhibit.path.read_bytes()))
    content = replace(built["content"], exhibits=(replace(exhibit, path=changed), *built["content"].exhibits[1:]))
    signer = ContentCredentialSigner(write_development_content_credentials(tmp_path / "c.pem", tmp_path / "k.pem",
                                                                           "Example Collections Ltd"))
    with pytest.raises(IntegrityFailure, match="no longer hashes"):
        signer.credential_exhibits(content, tmp_path)
    assert not list(tmp_path.glob("*.c2pa"))


def test_verify_md_tells_an_auditor_how_to_read_a_credential_and_its_command_works(built, tmp_path):
    import shlex
    import subprocess
    import sys

    text = built["files"]["VERIFY.md"].decode("utf-8")
    assert "## 8. Content credentials" in text and built["fingerprint"] in text
    assert str(built["certificate"].serial_number) in text
    command = next(line.strip() for line in text.splitlines() if "c2pa.Reader(sys.argv[1])" in line)
    copy = tmp_path / "copy.c2pa.jpg"
    copy.write_bytes(built["files"][built["manifest"]["exhibits"][0]["content_credentials"]["file"]])
    argv = shlex.split(command.replace("FILE", str(copy)))
    assert argv[0] == "python3"
    result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("Valid ") and built["manifest"]["exhibits"][0]["sha256"] in result.stdout


def test_a_png_exhibit_is_credentialed_too(built, tmp_path):
    import io

    from PIL import Image

    png = tmp_path / "shot.png"
    Image.new("RGB", (32, 24), (10, 200, 10)).save(png)
    digest = hashlib.sha256(png.read_bytes()).hexdigest()
    exhibit = replace(built["content"].exhibits[0], media_type="image/png", path=png, sha256=digest,
                      size=png.stat().st_size)
    content = replace(built["content"], exhibits=(exhibit,))
    signer = ContentCredentialSigner(write_development_content_credentials(tmp_path / "c.pem", tmp_path / "k.pem",
                                                                           "Example Collections Ltd"))
    [copy] = signer.credential_exhibits(content, tmp_path).values()
    assert copy.file.endswith(".c2pa.png")
    reading = read_credentials(copy.path.read_bytes(), "image/png")
    assert reading.sound and reading.original_sha256 == digest
    assert Image.open(io.BytesIO(copy.path.read_bytes())).size == (32, 24)


def test_verify_bundle_catches_a_copy_credentialed_with_another_certificate(built, tmp_path):
    """An insider re-signs a copy with a certificate of their own: intact as C2PA, but not the bundle's signer."""
    exhibit = built["content"].exhibits[0]
    other = ContentCredentialSigner(write_development_content_credentials(tmp_path / "c.pem", tmp_path / "k.pem",
                                                                          "Somebody Else"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    [copy] = other.credential_exhibits(replace(built["content"], exhibits=(exhibit,)), scratch).values()
    name, data = copy.file, copy.path.read_bytes()

    def edit(manifest):
        for entry in manifest["files"]:
            if entry["path"] == name:
                entry["sha256"], entry["size"] = copy.sha256, copy.size
        manifest["exhibits"][0]["content_credentials"].update(sha256=copy.sha256, size=copy.size)

    report = _resigned(built, tmp_path / "other-signer.zip", lambda n, d: data if n == name else d, edit)
    assert [(f.subject, f.problem) for f in report.failures] == [("exhibit 1", "credentials_signer_mismatch")]
