"""`fieldproof verify-bundle` on a good bundle and on every kind of tampering we promise to catch."""
import json
import shutil
import stat
import zipfile

import pytest
import rfc8785
from click.testing import CliRunner

from api.commands.packets import verify_bundle_command
from custody.ledger.checkpoint import Checkpoint
from legal_docs.bundle import write_bundle
from legal_docs.manifest import sign_manifest
from legal_docs.render import render_packet
from tests.legal_factories import make_packet_content, public_key_pem, signing_key


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundle")
    content, key = make_packet_content(base / "in", photos=2)
    rendered = render_packet(content, base / "out")
    path = base / "good.zip"
    write_bundle(path, content, rendered, key)
    (base / "key.pem").write_bytes(public_key_pem(key))
    (base / "other.pem").write_bytes(public_key_pem(signing_key(b"somebody else")))
    return path, key, base


def _run(*args):
    result = CliRunner().invoke(verify_bundle_command, [str(a) for a in args])
    return result.exit_code, result.output


def _entries(path):
    with zipfile.ZipFile(path) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def _rewrite(source, target, change):
    """Copy a bundle, letting ``change(name, data)`` return new bytes (or None to drop the entry)."""
    with zipfile.ZipFile(target, "w") as out:
        for info, data in _entries(source):
            data = change(info.filename, data)
            if data is not None:
                out.writestr(info, data)
    return target


def _resigned(source, target, edit, key):
    """Edit the manifest JSON and sign it again with ``key``: an insider with the signing key."""
    def change(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            edit(manifest)
            change.manifest = rfc8785.dumps(manifest)
            return change.manifest
        if name == "manifest.sig":
            return None
        return data
    _rewrite(source, target, change)
    with zipfile.ZipFile(target, "a") as out:
        out.writestr("manifest.sig", sign_manifest(key, change.manifest))
    return target


def test_good_bundle_verifies(good):
    path, _key, base = good
    code, output = _run(path, "--public-key", base / "key.pem")
    assert code == 0, output
    assert "result: VERIFIED" in output and "pinned with --public-key" in output


def test_unpinned_key_is_named_in_the_report(good):
    path, key, _base = good
    code, output = _run(path)
    assert code == 0, output
    assert "NOT pinned" in output
    assert key.public_key().public_bytes_raw() and "key id: " in output


def test_cli_group_runs_it_without_creating_the_app(good, monkeypatch, tmp_path):
    import api.app
    from api.cli import main

    def refuse(*args, **kwargs):
        raise AssertionError("verify-bundle must not create the app")
    monkeypatch.setattr(api.app, "create_app", refuse)
    result = CliRunner().invoke(main, ["verify-bundle", str(good[0])],
                                env={"FIELDPROOF_ENV": "production", "FIELDPROOF_DATA_DIR": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output


def test_usage_errors_exit_2(tmp_path):
    assert _run(tmp_path / "missing.zip")[0] == 2
    assert CliRunner().invoke(verify_bundle_command, []).exit_code == 2


def _names(path):
    return [info.filename for info, _ in _entries(path)]


@pytest.mark.parametrize("position", ["start", "middle", "end"])
def test_any_single_byte_changed_in_any_file_fails(good, tmp_path, position):
    path = good[0]
    for name in _names(path):
        def change(entry, data, name=name):
            if entry != name:
                return data
            index = {"start": 0, "middle": len(data) // 2, "end": len(data) - 1}[position]
            return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]
        target = _rewrite(path, tmp_path / "changed.zip", change)
        code, output = _run(target, "--public-key", good[2] / "key.pem")
        assert code == 1, (name, position, output)


def test_edited_manifest_fails(good, tmp_path):
    def change(name, data):
        return data.replace(b"Photo of the front door", b"Photo of the back door!") if name == "manifest.json" else data
    code, output = _run(_rewrite(good[0], tmp_path / "edited.zip", change))
    assert code == 1 and "manifest_signature_invalid" in output


def test_swapped_exhibit_files_fail(good, tmp_path):
    files = {name: data for name, data in ((i.filename, d) for i, d in _entries(good[0]))}
    first, second = sorted(n for n in files if n.startswith("exhibits/"))[:2]
    swapped = {first: files[second], second: files[first]}
    code, output = _run(_rewrite(good[0], tmp_path / "swapped.zip", lambda n, d: swapped.get(n, d)))
    assert code == 1 and "hash_mismatch" in output and first in output and second in output


def test_swapped_exhibits_in_a_resigned_manifest_fail(good, tmp_path):
    def swap(manifest):
        ex = manifest["exhibits"]
        ex[0], ex[1] = ex[1], ex[0]
    code, output = _run(_resigned(good[0], tmp_path / "order.zip", swap, good[1]))
    assert code == 1 and "exhibit_numbering" in output and "exhibit_order" in output


def test_custody_of_another_item_fails(good, tmp_path):
    def borrow(manifest):
        manifest["exhibits"][0]["custody"] = manifest["exhibits"][1]["custody"]
    code, output = _run(_resigned(good[0], tmp_path / "borrowed.zip", borrow, good[1]))
    assert code == 1 and "evidence_hash_mismatch" in output


def test_forged_checkpoint_fails(good, tmp_path):
    def forge(manifest):
        body = Checkpoint.parse(manifest["checkpoint"]["body"].encode())
        forged = Checkpoint(body.origin, body.tree_size + 1, bytes(32))
        manifest["checkpoint"].update(body=forged.body().decode(), tree_size=forged.tree_size,
                                      root_hash=forged.root_hash_hex)
    code, output = _run(_resigned(good[0], tmp_path / "forged.zip", forge, good[1]))
    assert code == 1 and "checkpoint" in output and "signature_invalid" in output


def test_wrong_public_key_fails(good):
    code, output = _run(good[0], "--public-key", good[2] / "other.pem")
    assert code == 1 and "key_not_pinned_key" in output and "manifest_signature_invalid" in output


def test_bundle_resigned_by_another_key_fails_when_the_key_is_pinned(good, tmp_path):
    intruder = signing_key(b"intruder")
    target = _resigned(good[0], tmp_path / "intruder.zip", lambda m: None, intruder)
    replaced = _rewrite(target, tmp_path / "intruder2.zip",
                        lambda n, d: public_key_pem(intruder) if n == "public_key.pem" else d)
    code, output = _run(replaced, "--public-key", good[2] / "key.pem")
    assert code == 1 and "key_not_pinned_key" in output


def _with_extra(source, target, info, data):
    shutil.copyfile(source, target)
    with zipfile.ZipFile(target, "a") as out:
        out.writestr(info, data)
    return target


def test_zip_bomb_is_refused(good, tmp_path):
    info = zipfile.ZipInfo("exhibits/bomb.bin")
    info.compress_type = zipfile.ZIP_DEFLATED
    code, output = _run(_with_extra(good[0], tmp_path / "bomb.zip", info, bytes(50 << 20)))
    assert code == 1 and "compression_ratio" in output


@pytest.mark.parametrize("name", ["../evil.txt", "exhibits/../../evil.txt", "/etc/evil", "C:/evil.txt",
                                  "exhibits\\..\\evil.txt"])
def test_path_traversal_is_refused(good, tmp_path, name):
    code, output = _run(_with_extra(good[0], tmp_path / "traversal.zip", zipfile.ZipInfo(name), b"x"))
    assert code == 1 and "unsafe_path" in output


def test_duplicate_entries_are_refused(good, tmp_path):
    with pytest.warns(UserWarning):
        target = _with_extra(good[0], tmp_path / "dup.zip", zipfile.ZipInfo("manifest.json"), b"{}")
    code, output = _run(target)
    assert code == 1 and "duplicate_entry" in output


def test_symlinks_are_refused(good, tmp_path):
    info = zipfile.ZipInfo("exhibits/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    code, output = _run(_with_extra(good[0], tmp_path / "link.zip", info, b"/etc/passwd"))
    assert code == 1 and "symlink_entry" in output


def test_unlisted_extra_file_fails(good, tmp_path):
    code, output = _run(_with_extra(good[0], tmp_path / "extra.zip", zipfile.ZipInfo("exhibits/extra.jpg"), b"x"))
    assert code == 1 and "unlisted_file" in output


def test_not_a_zip_fails(tmp_path):
    path = tmp_path / "junk.zip"
    path.write_bytes(b"not a zip")
    code, output = _run(path)
    assert code == 1 and "bundle_unreadable" in output


def test_bundle_is_deterministic(good, tmp_path):
    path, key, base = good
    content, _ = make_packet_content(base / "in", photos=2)
    rendered = render_packet(content, tmp_path / "out")
    again = write_bundle(tmp_path / "again.zip", content, rendered, key)
    with zipfile.ZipFile(path) as first, zipfile.ZipFile(tmp_path / "again.zip") as second:
        assert [(i.filename, i.date_time) for i in first.infolist()] == \
            [(i.filename, i.date_time) for i in second.infolist()]
        original = json.loads(first.read("manifest.json"))
    assert [e for e in json.loads(again.manifest)["exhibits"]] == original["exhibits"]
