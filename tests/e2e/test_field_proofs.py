"""The phone's own checks, run in Chromium against the same vectors as the server's.

RFC 9162 inclusion proofs (valid ones, the vectors' mutations and a flipped bit in every node of
every valid proof), C2SP checkpoints and signed notes (including golang.org/x/mod's reference
note), RFC 8785 leaves, and the device-signature payload byte for byte against the server's.
"""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from evidence.signatures import signed_payload
from tests.e2e.conftest import fresh_app, serving

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load(name):
    return json.loads((VECTORS / name).read_text())


@pytest.fixture(scope="module")
def page(database_template, tmp_path_factory):
    app = fresh_app(database_template, tmp_path_factory.mktemp("field-proofs"))
    with serving(app) as url, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(service_workers="block")
        page = context.new_page()
        page.goto(url + "/field/")
        page.wait_for_selector("body[data-ready='1']")
        yield page
        browser.close()


def run(page, script, arg):
    """Run `script` (the body of an async function of `arg`, with the phone's modules `proof`
    and `crypto` in scope) in the page, as the app runs them."""
    return page.evaluate(f"""async (arg) => {{
        const proof = await import('/field/static/proof.js');
        const crypto = await import('/field/static/crypto.js');
        const code = async (fn) => {{ try {{ await fn(); return 'ok'; }} catch (e) {{ return e.code || String(e); }} }};
        {script}
    }}""", arg)


def test_inclusion_proofs_match_the_rfc_9162_vectors(page):
    vectors = load("inclusion.json")
    results = run(page, """
        const out = [];
        for (const v of arg.valid) {
            out.push(await code(() => proof.verifyInclusion(v.index, v.tree_size, v.leaf_hash, v.proof, v.root)));
            out.push((await proof.rootFromInclusionProof(v.index, v.tree_size, v.leaf_hash, v.proof)) === v.root ? 'ok' : 'root');
        }
        return out;""", vectors)
    assert results == ["ok"] * (2 * len(vectors["valid"]))


def test_every_mutated_inclusion_proof_is_refused_with_its_reason(page):
    vectors = load("inclusion.json")
    results = run(page, """
        const out = [];
        for (const m of arg.mutations) {
            out.push(await code(() => proof.verifyInclusion(m.index, m.tree_size, m.leaf_hash, m.proof, m.root)));
        }
        return out;""", vectors)
    assert results == [m["expect"] for m in vectors["mutations"]]
    assert len(results) >= 60


def test_a_flipped_bit_anywhere_in_a_valid_proof_breaks_it(page):
    flipped = []
    for v in load("inclusion.json")["valid"]:
        for n, node in enumerate(v["proof"]):
            for bit in (0, 131, 255):
                raw = bytearray(bytes.fromhex(node))
                raw[bit // 8] ^= 1 << (bit % 8)
                proof = list(v["proof"])
                proof[n] = raw.hex()
                flipped.append({**v, "proof": proof})
        leaf = bytearray(bytes.fromhex(v["leaf_hash"]))
        leaf[31] ^= 0x80
        flipped.append({**v, "leaf_hash": leaf.hex()})
        flipped.append({**v, "proof": [*v["proof"], v["leaf_hash"]]})
    results = run(page, """
        const out = [];
        for (const v of arg) out.push(await code(() => proof.verifyInclusion(v.index, v.tree_size, v.leaf_hash, v.proof, v.root)));
        return out;""", flipped)
    assert "ok" not in results
    assert set(results) == {"root_mismatch", "proof_malformed"}


def test_consistency_proofs_match_the_vectors_and_every_mutation_is_refused(page):
    vectors = load("consistency.json")
    flipped = []
    for v in vectors["valid"]:
        for n, node in enumerate(v["proof"]):
            raw = bytearray(bytes.fromhex(node))
            raw[17] ^= 4
            proof = list(v["proof"])
            proof[n] = raw.hex()
            flipped.append({**v, "proof": proof})
    results = run(page, """
        const check = (v) => code(() => proof.verifyConsistency(v.first, v.second, v.proof, v.first_root, v.second_root));
        const out = {valid: [], mutations: [], flipped: []};
        for (const v of arg.v.valid) out.valid.push(await check(v));
        for (const m of arg.v.mutations) out.mutations.push(await check(m));
        for (const f of arg.flipped) out.flipped.push(await check(f));
        return out;""", {"v": vectors, "flipped": flipped})
    assert results["valid"] == ["ok"] * len(vectors["valid"])
    assert results["mutations"] == [m["expect"] for m in vectors["mutations"]]
    assert flipped and set(results["flipped"]) == {"root_mismatch"}


def test_checkpoints_and_signed_notes_match_the_c2sp_vectors(page):
    vectors = load("checkpoint.json")
    public_key = base64.b64encode(bytes.fromhex(vectors["test_key"]["public_key"])).decode()
    go = vectors["go_reference_note"]
    go_key = base64.b64decode(go["verifier_key"].split("+")[2])
    assert go_key[0] == 1
    results = run(page, """
        const u = crypto.utf8, key = crypto.fromB64(arg.public_key), out = {};
        out.valid = arg.v.valid.map((c) => { const p = proof.parseCheckpoint(u(c.body));
            return [p.origin, p.treeSize, p.rootHash, p.extensions]; });
        out.invalid = [];
        for (const b of [...arg.v.invalid_bodies, ...arg.v.invalid_body_bytes]) {
            out.invalid.push(await code(() => proof.parseCheckpoint(crypto.fromB64(b.body_b64))));
        }
        out.signed = await code(() => proof.verifyCheckpoint(u(arg.v.signed.body), arg.v.signed.signature, key));
        out.bad_signatures = [];
        for (const b of arg.v.bad_signatures) {
            out.bad_signatures.push(await code(() => proof.verifyCheckpoint(u(b.body), b.signature, key)));
        }
        const origin = 'fieldproof.example/ledger';
        out.note = await code(() => proof.openNote(u(arg.v.signed.note), key, origin));
        out.extra = await code(() => proof.openNote(u(arg.v.extra_signature_note.note), key, origin));
        out.bad_notes = [];
        for (const b of arg.v.bad_notes) out.bad_notes.push(await code(() => proof.openNote(u(b.note), key, origin)));
        const goKey = crypto.fromB64(arg.go_key);
        out.go = await code(() => proof.openNote(u(arg.v.go_reference_note.note), goKey, arg.v.go_reference_note.key_name));
        out.go_hash = crypto.hex(await proof.noteKeyHash(arg.v.go_reference_note.key_name, goKey));
        out.ours_hash = crypto.hex(await proof.noteKeyHash(origin, key));
        return out;""", {"v": vectors, "public_key": public_key, "go_key": base64.b64encode(go_key[1:]).decode()})
    assert results["valid"] == [[c["origin"], c["tree_size"], c["root_hash"], c["extensions"]] for c in vectors["valid"]]
    assert results["invalid"] == ["checkpoint_malformed"] * (len(vectors["invalid_bodies"]) + len(vectors["invalid_body_bytes"]))
    assert results["signed"] == "ok" and results["note"] == "ok" and results["extra"] == "ok"
    assert results["bad_signatures"] == [b["expect"] for b in vectors["bad_signatures"]]
    assert results["bad_notes"] == [b["expect"] for b in vectors["bad_notes"]]
    assert results["go"] == "ok"
    assert results["go_hash"] == go["verifier_key"].split("+")[1]
    assert results["ours_hash"] == vectors["test_key"]["note_key_hash"]


def test_leaves_are_canonical_json_and_hash_as_the_server_does(page):
    vectors = load("leaf.json")
    results = run(page, """
        const out = [];
        for (const c of arg.canonical) out.push([crypto.canonicalJSON(c.event), crypto.hex(await proof.leafHash(crypto.utf8(c.leaf)))]);
        return out;""", vectors)
    assert results == [[c["leaf"], c["leaf_hash"]] for c in vectors["canonical"]]


@pytest.mark.parametrize("lat, lon, captured_at, visit_id", [
    (31.2354, 121.5055, "2026-12-07T10:02:03.123+08:00", "0b0e7c1e-5d0c-4c4e-9d9b-1f0c2f6a7d10"),
    (-33.8688, 151.2093, "2026-12-07T10:02:03Z", "v-1"),
    (0.0, -0.0000001, "2026-01-01T00:00:00.000-05:00", "x"),
    (89.99999999999999, -179.5, "2026-06-30T23:59:59.999+14:00", "ünïcode-访"),
    (45, 7, "2026-06-30T12:00:00+02:00", "int-like"),
    (1e-7, 123.456789012345678, "2026-06-30T12:00:00+02:00", "tiny"),
])
def test_the_phone_signs_the_exact_bytes_the_server_verifies(page, lat, lon, captured_at, visit_id):
    sha = "AB" * 32
    phone = run(page, """
        const bytes = crypto.capturePayload(arg);
        return Array.from(bytes);""", {"sha256": sha, "captured_at": captured_at, "lat": lat, "lon": lon, "visit_id": visit_id})
    server = signed_payload(sha256=sha, captured_at=captured_at, lat=float(lat), lon=float(lon), visit_id=visit_id)
    assert bytes(phone) == server


def test_a_signature_made_on_the_phone_verifies_on_the_server(page):
    from evidence.signatures import verify_device_signature

    sha = "0f" * 32
    fields = {"sha256": sha, "captured_at": "2026-12-07T10:02:03.123+08:00", "lat": 31.2354, "lon": 121.5055,
              "visit_id": "visit-1"}
    made = run(page, """
        const key = await crypto.newDeviceKey();
        return {public_key: key.publicRaw, signature: await crypto.sign(key.privateKey, crypto.capturePayload(arg))};""", fields)
    assert verify_device_signature(made["public_key"], made["signature"], signed_payload(**fields))
    assert not verify_device_signature(made["public_key"], made["signature"], signed_payload(**{**fields, "lat": 31.2355}))
