"""Packets built through the job carry content credentials signed with the deployment's certificate."""
import hashlib
import io
import json
import zipfile

from core.keys import C2PA_ROOT_NAME
from legal_docs.credentials import REDACTION_LABEL, read_credentials
from legal_docs.verify_bundle import verify_bundle
from tests.api.test_packets import build, upload


def test_a_built_bundle_carries_credentialed_copies_of_the_original_and_the_redacted_photo(
        client, app, world, factory, settings, tmp_path):
    plain = upload(client, world, minutes_ago=12)
    crowd = upload(client, world, minutes_ago=8, colour=(90, 90, 200),
                   consent={"subject": "granted", "third_parties_present": True})
    redacted = client.post(f"/api/v1/evidence/{crowd['id']}/redactions", headers=world.legal.headers,
                           json={"regions": [{"x": 0, "y": 0, "width": 200, "height": 200}],
                                 "reason": "bystander's face", "mode": "black"}).get_json()
    packet = build(client, app, world)
    assert packet["status"] == "ready", packet["error"]
    bundle = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=factory.user("auditor").headers)
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.data)
    report = verify_bundle(path)
    assert report.ok, report.failures
    assert report.credentials_checked == 2

    root = (settings.data_dir / "keys" / C2PA_ROOT_NAME).read_bytes()  # the generated development root
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        first, second = manifest["exhibits"]
        assert hashlib.sha256(archive.read(first["file"])).hexdigest() == plain["sha256"] == first["sha256"]
        readings = [read_credentials(archive.read(e["content_credentials"]["file"]), "image/jpeg",
                                     trust_anchors_pem=root) for e in (first, second)]
    assert [r.state for r in readings] == ["Trusted", "Trusted"]
    assert [r.original_sha256 for r in readings] == [plain["sha256"], crowd["sha256"]]
    assert readings[0].actions == ["c2pa.created"] and readings[1].actions == ["c2pa.opened", "c2pa.edited"]
    redaction = readings[1].assertion(REDACTION_LABEL)
    assert (redaction["original_evidence_id"], redaction["redacted_evidence_id"], redaction["reason"]) == \
        (crowd["id"], redacted["id"], "bystander's face")
    assert readings[1].manifest["ingredients"][0]["title"] == crowd["id"]


def test_the_console_and_the_cli_report_how_many_content_credentials_they_checked(client, app, world, factory,
                                                                                   tmp_path):
    from click.testing import CliRunner

    from api.commands.packets import verify_bundle_command
    from tests.console.conftest import ConsoleSession

    upload(client, world, minutes_ago=4)
    packet = build(client, app, world)
    data = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=factory.user("auditor").headers).data
    (tmp_path / "bundle.zip").write_bytes(data)
    result = CliRunner().invoke(verify_bundle_command, [str(tmp_path / "bundle.zip")])
    assert result.exit_code == 0, result.output
    assert "content credentials: 1 C2PA-signed image copies checked" in result.output

    console = ConsoleSession(client)
    console.login(factory.user("auditor"))
    page = console.post("/console/bundles/verify", {"bundle": (io.BytesIO(data), "bundle.zip")},
                        content_type="multipart/form-data").get_data(as_text=True)
    assert "Bundle verified" in page
    assert "Content credentials checked (C2PA image copies)</dt><dd>1</dd>" in page
