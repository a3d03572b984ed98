def test_pages_need_a_session(client):
    response = client.get("/console/cases")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")


def test_login_sets_a_hardened_cookie_and_logout_revokes(console, factory, client):
    user = factory.user("legal")
    response = console.login(user)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/console/cases").status_code == 200
    console.post("/console/logout")
    assert client.get("/console/cases").status_code == 302


def test_wrong_password_is_refused(console, factory):
    response = console.login(factory.user("legal"), password="nope-nope")
    assert response.status_code == 401 and b"Wrong username or password" in response.data


def test_forms_without_csrf_token_are_refused(client, factory, console):
    user = factory.user("legal")
    assert client.post("/console/login", data={"username": user.username, "password": "x"}).status_code == 400
    console.login(user)
    assert client.post("/console/logout").status_code == 400
    assert client.get("/console/cases").status_code == 200  # still signed in


def test_login_redirect_stays_inside_the_console(console, factory, client):
    user = factory.user("legal")
    response = client.post("/console/login?next=//evil.example/x",
                           data={"username": user.username, "password": "correct horse battery",
                                 "csrf_token": console.csrf()})
    assert response.headers["Location"] == "/console/cases"


def test_collector_cannot_open_another_collectors_case(console, factory, client):
    mine, theirs = factory.user("collector"), factory.user("collector")
    own_case = factory.case(collector=mine)
    other_case = factory.case(collector=theirs)
    console.login(mine)
    assert client.get(f"/console/cases/{own_case['id']}").status_code == 200
    assert client.get(f"/console/cases/{other_case['id']}").status_code == 404
    listing = client.get("/console/cases").get_data(as_text=True)
    assert own_case["reference"] in listing and other_case["reference"] not in listing


def test_case_page_shows_identity_masked(console, factory, client):
    case = factory.case(debtor={"name": "Wang Fang", "national_id": "110101198501011234", "phone": "+8613800138000"})
    console.login(factory.user("legal"))
    page = client.get(f"/console/cases/{case['id']}").get_data(as_text=True)
    assert "Wang Fang" in page and "1234" in page
    assert "110101198501011234" not in page and "13800138000" not in page


def test_search_and_filters(console, factory, client):
    factory.case(reference="ALPHA-1")
    factory.case(reference="BETA-2", jurisdiction="US-NY", currency="USD")
    console.login(factory.user("legal"))
    page = client.get("/console/cases?q=alpha").get_data(as_text=True)
    assert "ALPHA-1" in page and "BETA-2" not in page
    page = client.get("/console/cases?jurisdiction=US-NY").get_data(as_text=True)
    assert "BETA-2" in page and "ALPHA-1" not in page


def test_security_headers_and_strict_csp(client):
    response = client.get("/console/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    api = client.get("/api/v1/cases")
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_language_follows_browser_then_choice(console, factory, client):
    page = client.get("/console/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    page = client.get("/console/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    console.post("/console/language", data={"locale": "zh_CN", "next": "/console/login"})
    page = client.get("/console/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_chinese_pages_are_translated(client):
    page = client.get("/console/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "登录" in page and "用户名" in page and "Sign in" not in page


def test_the_chinese_catalog_is_complete():
    from pathlib import Path

    from babel.messages.pofile import read_po

    po = Path(__file__).resolve().parents[2] / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        untranslated = [m.id for m in read_po(handle) if m.id and not m.string]
    assert untranslated == []
