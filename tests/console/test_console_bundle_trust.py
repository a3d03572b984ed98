"""The console's bundle check names the checkpoint's timestamp and the witnesses that cosigned it."""
from __future__ import annotations

import io
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody.ledger.checkpoint import SignedCheckpoint, signed_note
from custody.ledger.cosignature import cosignature_line
from custody.timestamps import TsaTrust, request_token
from legal_docs.bundle import write_bundle
from legal_docs.content import CheckpointStamp
from legal_docs.render import render_packet
from tests.legal_factories import make_packet_content
from tests.tsa import LocalCA, LocalTSA


def test_the_bundle_check_shows_the_stamp_and_the_cosigners(console, factory, tmp_path):
    content, key = make_packet_content(tmp_path / "in", photos=1, pdf=False, audio=False)
    ca = LocalCA.create()
    tsa = LocalTSA(ca).start()
    try:
        note = signed_note(SignedCheckpoint(content.ledger.parsed, content.ledger.signature), key.public_key())
        token, time, chain = request_token(tsa.url, note, TsaTrust.from_file(ca.write_root(tmp_path / "r.pem")), 10)
    finally:
        tsa.stop()
    line = cosignature_line(Ed25519PrivateKey.generate(), "audit.example/w", content.ledger.checkpoint, 1_780_000_000)
    content = replace(content, ledger=replace(content.ledger, timestamp=CheckpointStamp(token, tsa.url, time, chain,
                                                                                       note), cosignatures=(line,)))
    path = tmp_path / "bundle.zip"
    write_bundle(path, content, render_packet(content, tmp_path / "out"), key)
    console.login(factory.user("auditor"))
    page = console.post("/console/bundles/verify", {"bundle": (io.BytesIO(path.read_bytes()), "bundle.zip")},
                        content_type="multipart/form-data").get_data(as_text=True)
    assert "Bundle verified" in page
    assert f"stamped by {tsa.url}; not checked here" in page
    assert "audit.example/w (not checked here: pin their keys" in page
