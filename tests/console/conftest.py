import re

import pytest

from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class ConsoleSession:
    """A browser-like session against the console through the test client."""

    def __init__(self, client):
        self.client = client

    def csrf(self, path="/console/login") -> str:
        return _CSRF.search(self.client.get(path).get_data(as_text=True)).group(1)

    def login(self, user, password=PASSWORD):
        return self.client.post("/console/login", data={"username": user.username, "password": password,
                                                         "csrf_token": self.csrf()})

    def post(self, path, data=None, **kwargs):
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf("/console/login")}, **kwargs)


@pytest.fixture
def console(client):
    return ConsoleSession(client)
