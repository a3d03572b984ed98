import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.api.test_errors import assert_problem


def test_admin_creates_lists_and_edits_users(client, factory):
    admin = factory.user("admin")
    created = client.post("/api/v1/users", json={"username": "bob.s", "role": "supervisor", "password": "long enough pw"},
                          headers=admin.headers)
    assert created.status_code == 201
    user = created.get_json()
    assert user["role"] == "supervisor" and "password" not in user
    listed = client.get("/api/v1/users?role=supervisor", headers=admin.headers).get_json()
    assert [u["username"] for u in listed] == ["bob.s"]
    patched = client.patch(f"/api/v1/users/{user['id']}", json={"role": "legal"}, headers=admin.headers)
    assert patched.get_json()["role"] == "legal"
    assert_problem(client.post("/api/v1/users", json={"username": "bob.s", "role": "legal", "password": "x" * 10},
                               headers=admin.headers), 409)


@pytest.mark.parametrize("role", ["supervisor", "collector", "legal", "auditor"])
def test_only_admins_manage_users(client, factory, role):
    user = factory.user(role)
    assert_problem(client.get("/api/v1/users", headers=user.headers), 403)
    assert_problem(client.post("/api/v1/users", json={"username": "x.y.z", "role": "legal", "password": "x" * 10},
                               headers=user.headers), 403)


def test_user_validation(client, factory):
    admin = factory.user("admin")
    assert_problem(client.post("/api/v1/users", json={"username": "ab", "role": "legal", "password": "x" * 10},
                               headers=admin.headers), 422)
    assert_problem(client.post("/api/v1/users", json={"username": "abc", "role": "king", "password": "x" * 10},
                               headers=admin.headers), 422)
    assert_problem(client.post("/api/v1/users", json={"username": "abc", "role": "legal", "password": "short"},
                               headers=admin.headers), 422)
    assert_problem(client.get("/api/v1/users/nope", headers=admin.headers), 404)


def raw_public_key() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


def test_collector_registers_a_device(client, factory):
    collector = factory.user("collector")
    key = raw_public_key()
    response = client.post("/api/v1/devices", json={"label": "Pixel 9", "public_key": key}, headers=collector.headers)
    assert response.status_code == 201
    device = response.get_json()
    assert device["user_id"] == collector.id and len(device["key_id"]) == 64
    assert_problem(client.post("/api/v1/devices", json={"label": "again", "public_key": key},
                               headers=collector.headers), 409)
    listed = client.get("/api/v1/devices", headers=collector.headers).get_json()
    assert [d["id"] for d in listed] == [device["id"]]
    assert client.get("/api/v1/devices", headers=factory.user("collector").headers).get_json() == []


@pytest.mark.parametrize("key,why", [
    ("not base64!", "base64"),
    (base64.b64encode(b"\x01" * 31).decode(), "length"),
    (base64.b64encode(b"\xff" * 32).decode(), "not a valid Ed25519"),
    (base64.b64encode(b"\x01" + b"\x00" * 31).decode(), "not a valid Ed25519"),  # small-order point
])
def test_invalid_device_keys_refused(client, factory, key, why):
    body = assert_problem(client.post("/api/v1/devices", json={"label": "x", "public_key": key},
                                      headers=factory.user("collector").headers), 422)
    assert "public_key" in body["errors"]


def test_only_collectors_register_devices(client, factory):
    assert_problem(client.post("/api/v1/devices", json={"label": "x", "public_key": raw_public_key()},
                               headers=factory.user("supervisor").headers), 403)


def test_user_etag_guards_against_lost_updates(client, factory):
    admin, other_admin = factory.user("admin"), factory.user("admin")
    user = factory.user("collector")
    path = f"/api/v1/users/{user.id}"
    read = client.get(path, headers=admin.headers)
    tag = read.headers["ETag"]
    assert client.get(path, headers={**admin.headers, "If-None-Match": tag}).status_code == 304
    first = client.patch(path, json={"display_name": "Wang Fang"}, headers={**admin.headers, "If-Match": tag})
    assert first.status_code == 200 and first.headers["ETag"] not in (None, tag)
    stale = client.patch(path, json={"role": "legal"}, headers={**other_admin.headers, "If-Match": tag})
    assert stale.status_code == 412 and stale.content_type == "application/problem+json"
    assert client.get(path, headers=admin.headers).get_json()["role"] == "collector"


def test_a_password_change_changes_the_user_etag(client, factory):
    """The password is not in the representation, but it is part of the user's state."""
    admin = factory.user("admin")
    user = factory.user("collector")
    path = f"/api/v1/users/{user.id}"
    tag = client.get(path, headers=admin.headers).headers["ETag"]
    changed = client.patch(path, json={"password": "another long password"}, headers={**admin.headers, "If-Match": tag})
    assert changed.status_code == 200
    assert client.get(path, headers=admin.headers).headers["ETag"] != tag
