from datetime import timedelta

from sqlalchemy import select, update

from accounts.models import AccessToken
from accounts.services import create_user
from core.clock import utcnow
from tests.api.test_errors import assert_problem


def make_login_user(app, username="alice", role="collector", password="s3cret-password"):
    with app.extensions["fieldproof"].db.transaction() as session:
        create_user(session, username=username, role=role, password=password)
    return username, password


def login(client, username, password):
    return client.post("/api/v1/auth/tokens", json={"username": username, "password": password})


def test_login_issues_a_bearer_token_stored_only_hashed(app, client):
    username, password = make_login_user(app)
    response = login(client, username, password)
    assert response.status_code == 201
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["user"]["username"] == username
    assert "password" not in body["user"] and "password_hash" not in body["user"]
    with app.extensions["fieldproof"].db.transaction() as session:
        stored = session.scalars(select(AccessToken.token_hash)).all()
    assert body["access_token"] not in stored and len(stored) == 1
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["username"] == username


def test_wrong_password_is_401(app, client):
    username, _ = make_login_user(app)
    assert_problem(login(client, username, "wrong-password"), 401)
    assert_problem(login(client, "nobody", "wrong-password"), 401)


def test_repeated_failures_are_rate_limited_even_with_the_right_password(app, client):
    username, password = make_login_user(app)
    limit = app.extensions["fieldproof"].settings.login_max_failures
    for _ in range(limit):
        assert login(client, username, "wrong-password").status_code == 401
    response = login(client, username, password)
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0


def test_failures_outside_the_window_no_longer_count(app, client):
    from accounts.models import LoginFailure

    username, password = make_login_user(app)
    limit = app.extensions["fieldproof"].settings.login_max_failures
    for _ in range(limit):
        login(client, username, "wrong-password")
    with app.extensions["fieldproof"].db.transaction() as session:
        session.execute(update(LoginFailure).values(at=utcnow() - timedelta(hours=1)))
    assert login(client, username, password).status_code == 201


def test_logout_revokes_the_token(app, client):
    username, password = make_login_user(app)
    token = login(client, username, password).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete("/api/v1/auth/tokens/current", headers=headers).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=headers), 401)


def test_expired_token_is_401(app, client, factory):
    user = factory.user("legal")
    with app.extensions["fieldproof"].db.transaction() as session:
        session.execute(update(AccessToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    body = assert_problem(client.get("/api/v1/me", headers=user.headers), 401)
    assert "expired" in body["detail"]


def test_deactivated_user_loses_access(app, client, factory):
    admin, user = factory.user("admin"), factory.user("collector")
    assert client.patch(f"/api/v1/users/{user.id}", json={"active": False}, headers=admin.headers).status_code == 200
    assert_problem(client.get("/api/v1/me", headers=user.headers), 401)
