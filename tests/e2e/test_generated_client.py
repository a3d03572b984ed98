"""A client generated from the served OpenAPI document, used the way a mobile team would use it.

`openapi-python-client` writes a package from `/api/v1/openapi.json` into a temporary folder
(nothing generated is committed); the flows below then run through that package alone — a
collector's day, a legal user's packet, an auditor's verification and proofs — and every response
must parse into the generated models. A change to the document that breaks generation, or a
response the document misdescribes, fails here.
"""
from __future__ import annotations

import base64
import hashlib
import importlib
import io
import os
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence.signatures import signed_payload
from tests.api.visit_helpers import SHANGHAI, Clock, local, moved
from tests.e2e.conftest import fresh_app, serving
from tests.e2e.processes import wait_for
from tests.evidence_corpus import photo
from tests.factories import PASSWORD, Factory

PACKAGE = "fieldproof_client"


@pytest.fixture(scope="module")
def served(database_template, tmp_path_factory):
    """A served app with a collector's visit tomorrow at 10:00 in Shanghai, the visit service's clock
    pinned to 10:05 that day (so the day can be walked now), and the generated client package."""
    import visits.services

    base = tmp_path_factory.mktemp("generated-client")
    (base / "app").mkdir()
    app = fresh_app(database_template, base / "app")
    factory = Factory(app, app.test_client())
    users = {role: factory.user(role) for role in ("admin", "supervisor", "collector", "legal", "auditor")}
    second = factory.user("collector")
    case = factory.case(collector=users["collector"], supervisor=users["supervisor"])
    start = local(1, 10)
    home = next(a for a in case["addresses"] if a["kind"] == "home")
    visit = app.test_client().post("/api/v1/visits", headers=users["supervisor"].headers, json={
        "case_id": case["id"], "address_id": home["id"], "collector_id": users["collector"].id,
        "second_collector_id": second.id, "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=1)).isoformat()})
    assert visit.status_code == 201, visit.get_json()
    with pytest.MonkeyPatch.context() as patch, serving(app) as url:
        clock = Clock(start + timedelta(minutes=5))
        patch.setattr(visits.services, "utcnow", clock)
        document = base / "openapi.json"
        with urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=30) as response:
            document.write_bytes(response.read())
        output = generate(document, base / "client" / PACKAGE)
        sys.path.insert(0, str(base / "client"))
        try:
            yield {"url": url, "app": app, "users": users, "case": case, "home": home, "clock": clock,
                   "visit": visit.get_json(), "start": start, "generator_output": output}
        finally:
            sys.path.remove(str(base / "client"))
            for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
                del sys.modules[name]


def generate(document: Path, target: Path) -> str:
    """Run the generator as a mobile team would; its own formatting hook runs with our ruff."""
    tool = Path(sys.executable).with_name("openapi-python-client")
    env = dict(os.environ, PATH=f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(tool), "generate", "--path", str(document), "--output-path", str(target),
                             "--meta", "none", "--overwrite"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


def sign_in(served, role: str):
    """`POST /auth/tokens` through the generated client: the token parses, user included."""
    client_module, models, post_tokens = module("client"), module("models"), module("api.auth.post_auth_tokens")
    user = served["users"][role]
    response = post_tokens.sync_detailed(client=client_module.Client(base_url=served["url"]),
                                         body=models.Login(username=user.username, password=PASSWORD))
    assert response.status_code == 201, response.content
    token = response.parsed
    assert isinstance(token, models.Token) and token.user.username == user.username
    return client_module.AuthenticatedClient(base_url=served["url"], token=token.access_token)


def parsed(response, expected_status: int, model_name: str):
    """The response has the expected status and parsed into the named generated model."""
    assert response.status_code == expected_status, response.content
    model = getattr(module("models"), model_name)
    value = response.parsed
    items = value if isinstance(value, list) else [value]
    assert items and all(isinstance(item, model) for item in items), (type(value), response.content[:300])
    return value


def test_generation_describes_every_operation(served):
    """No operation loses its response in the generated client (binary downloads included)."""
    assert "Cannot parse response" not in served["generator_output"], served["generator_output"]


def test_a_collectors_day(served):
    models, types = module("models"), module("types")
    collector = sign_in(served, "collector")
    me = parsed(module("api.auth.get_me").sync_detailed(client=collector), 200, "User")
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    device = parsed(module("api.devices.post_devices").sync_detailed(client=collector, body=models.DeviceCreate(
        label="generated-client phone", public_key=base64.b64encode(raw).decode())), 201, "Device")

    visits = parsed(module("api.visits.get_visits").sync_detailed(client=collector), 200, "Visit")
    visit = next(v for v in visits if v.id == served["visit"]["id"])
    route = parsed(module("api.visits.get_collectors_collector_id_route").sync_detailed(
        str(me.id), client=collector, date=served["start"].date()), 200, "Route")
    assert [str(stop.visit_id) for stop in route.stops] == [served["visit"]["id"]]

    at = served["clock"].now.astimezone(SHANGHAI)
    home = (served["home"]["lat"], served["home"]["lon"])
    here = moved(home, 20)
    checked_in = parsed(module("api.visits.post_visits_visit_id_check_in").sync_detailed(
        str(visit.id), client=collector, body=models.CheckInRequest(at=at, lat=here[0], lon=here[1], accuracy_m=8.0)),
        200, "Visit")
    assert checked_in.check_in.within_geofence is True

    # A photo by multipart, signed by the device over the payload the server verifies.
    data = photo((640, 480), at=at + timedelta(minutes=1), where=here)
    digest = hashlib.sha256(data).hexdigest()
    captured_at = (at + timedelta(minutes=1)).isoformat(timespec="seconds")
    signature = key.sign(signed_payload(sha256=digest, captured_at=captured_at, lat=here[0], lon=here[1],
                                        visit_id=str(visit.id)))
    metadata = {"visit_id": str(visit.id), "kind": "photo", "sha256": digest, "captured_at": captured_at,
                "lat": here[0], "lon": here[1], "accuracy_m": 8.0,
                "consent": {"subject": "granted", "third_parties_present": False},
                "device_id": str(device.id), "device_signature": base64.b64encode(signature).decode()}
    sealed = parsed(module("api.evidence.post_evidence").sync_detailed(client=collector, body=models.PostEvidenceBody(
        metadata=models.Capture.from_dict(metadata), file=types.File(payload=io.BytesIO(data),
                                                       file_name="door.jpg", mime_type="image/jpeg"))),
        201, "Evidence")
    assert sealed.sha256 == digest and str(sealed.signature_status) == "signed"  # verified, or refused

    # A second photo by direct upload: pending, PUT the bytes, complete.
    second = photo((320, 240), at=at + timedelta(minutes=2), where=here, colour=(40, 120, 200))
    second_digest = hashlib.sha256(second).hexdigest()
    upload_body = models.DirectUploadRequest.from_dict({
        **{k: v for k, v in metadata.items() if k not in ("device_id", "device_signature")},
        "sha256": second_digest, "captured_at": (at + timedelta(minutes=2)).isoformat(timespec="seconds"),
        "size": len(second)})
    pending = parsed(module("api.evidence.post_evidence_uploads").sync_detailed(client=collector, body=upload_body),
                     201, "DirectUpload")
    assert str(pending.status) == "pending_upload"
    put = module("api.evidence.put_evidence_evidence_id_content").sync_detailed(
        pending.id, client=collector, body=types.File(payload=io.BytesIO(second)))
    assert put.status_code == 204, put.content
    completed = parsed(module("api.evidence.post_evidence_evidence_id_complete").sync_detailed(
        pending.id, client=collector), 200, "Evidence")
    assert completed.sha256 == second_digest and str(completed.status) == "sealed"

    note = parsed(module("api.evidence.post_visits_visit_id_notes").sync_detailed(str(visit.id), client=collector,
                  body=models.Note(text="Spoke at the door; will pay on the 15th.", at=at + timedelta(minutes=3),
                                   lat=here[0], lon=here[1])), 201, "Evidence")
    served["clock"].now = at + timedelta(minutes=20)
    checked_out = parsed(module("api.visits.post_visits_visit_id_check_out").sync_detailed(
        str(visit.id), client=collector, body=models.CheckOutRequest.from_dict({
            "at": (at + timedelta(minutes=15)).isoformat(), "lat": here[0], "lon": here[1],
            "outcome": "promise_to_pay", "summary": "Promised half now, half next month.",
            "promise": {"amount": "500.00", "due_date": (at + timedelta(days=7)).date().isoformat()}})),
        200, "Visit")
    assert str(checked_out.status) == "completed" and checked_out.check_out.outcome == "promise_to_pay"
    served["sealed"] = [str(sealed.id), str(completed.id), str(note.id)]


def test_a_legal_users_packet(served):
    if "sealed" not in served:
        pytest.skip("needs the collector's day")
    models = module("models")
    legal = sign_in(served, "legal")
    accepted = parsed(module("api.packets.post_cases_case_id_packets").sync_detailed(
        served["case"]["id"], client=legal, body=models.PacketRequest.from_dict({"language": "en"})),
        202, "PacketAccepted")
    get_packet = module("api.packets.get_packets_packet_id")

    def ready():
        packet = parsed(get_packet.sync_detailed(str(accepted.id), client=legal), 200, "Packet")
        assert str(packet.status) != "failed", packet
        return packet if str(packet.status) == "ready" else None

    packet = wait_for(ready, timeout=300, what="the packet to be built")
    assert {str(e.evidence_id) for e in packet.exhibits} >= set(served["sealed"][:2])
    File = module("types").File
    pdf = module("api.packets.get_packets_packet_id_pdf").sync_detailed(str(packet.id), client=legal)
    assert pdf.status_code == 200 and isinstance(pdf.parsed, File) and pdf.parsed.payload.read(5) == b"%PDF-"
    bundle = module("api.packets.get_packets_packet_id_bundle").sync_detailed(str(packet.id), client=legal)
    assert bundle.status_code == 200 and isinstance(bundle.parsed, File) and bundle.parsed.payload.read(2) == b"PK"


def test_an_auditors_verification_and_proofs(served):
    if "sealed" not in served:
        pytest.skip("needs the collector's day")
    models = module("models")
    auditor = sign_in(served, "auditor")
    accepted = parsed(module("api.verifications.post_verifications").sync_detailed(
        client=auditor, body=models.VerificationRequest.from_dict({"scope": "all"})), 202, "VerificationAccepted")
    get_run = module("api.verifications.get_verifications_verification_id")

    def finished():
        run = parsed(get_run.sync_detailed(str(accepted.id), client=auditor), 200, "Verification")
        return run if str(run.status) not in ("queued", "running") else None

    run = wait_for(finished, timeout=300, what="the verification to finish")
    assert str(run.status) == "passed", run

    head = parsed(module("api.ledger.get_ledger_head").sync_detailed(client=auditor), 200, "TreeHead")
    key = parsed(module("api.ledger.get_ledger_public_key").sync_detailed(client=auditor), 200, "PublicKey")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    public = load_pem_public_key(key.public_key_pem.encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(head.signature), head.checkpoint.encode())
    events = parsed(module("api.evidence.get_evidence_evidence_id_custody").sync_detailed(
        served["sealed"][0], client=auditor), 200, "CustodyEvent")
    sealed = next(e for e in events if str(e.type_) == "sealed")  # the generator renames `type`
    proof = parsed(module("api.ledger.get_ledger_proofs_inclusion").sync_detailed(
        client=auditor, index=sealed.ledger_index, tree_size=head.tree_size), 200, "InclusionProof")
    leaf = hashlib.sha256(b"\x00" + sealed.leaf.encode()).hexdigest()
    assert leaf == sealed.leaf_hash
    assert root_from_inclusion(sealed.ledger_index, head.tree_size, leaf, proof.audit_path) == head.root_hash
    consistency = parsed(module("api.ledger.get_ledger_proofs_consistency").sync_detailed(
        client=auditor, first=1, second=head.tree_size), 200, "ConsistencyProof")
    assert consistency.second == head.tree_size


def root_from_inclusion(index: int, size: int, leaf_hex: str, path: list[str]) -> str:
    """RFC 9162 §2.1.3.2, written here from the RFC so the check does not lean on our own code."""
    node = lambda left, right: hashlib.sha256(b"\x01" + left + right).digest()  # noqa: E731
    fn, sn, root = index, size - 1, bytes.fromhex(leaf_hex)
    for sibling in map(bytes.fromhex, path):
        assert sn > 0, "audit path longer than the tree"
        if fn & 1 or fn == sn:
            root = node(sibling, root)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            root = node(root, sibling)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "audit path shorter than the tree"
    return root.hex()
