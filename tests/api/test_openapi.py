import re

from openapi_spec_validator import validate

PROBLEM = "application/problem+json"


def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_document_validates(client):
    validate(spec(client))


def test_every_operation_documents_its_errors(client, app):
    document = spec(client)
    responses = document["components"]["responses"]
    operations = [(path, method, op) for path, item in document["paths"].items()
                  for method, op in item.items() if method in {"get", "post", "put", "patch", "delete"}]
    assert len(operations) >= 12
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"400", "404", "429", "500", "503"} <= codes, (method, path)
        if "security" in op:
            assert {"401", "403"} <= codes, (method, path)
        if method in {"post", "patch", "put"}:
            assert {"409", "413", "415", "422"} <= codes, (method, path)
        for code in codes - {c for c in codes if c.startswith("2")}:
            ref = op["responses"][code]["$ref"].rsplit("/", 1)[-1]
            assert PROBLEM in responses[ref]["content"], (method, path, code)


def test_every_route_is_documented(app, client):
    documented = set(spec(client)["paths"])
    flask_rules = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/api/v1/") and "openapi.json" not in rule.rule
                   and "/docs" not in rule.rule}
    assert flask_rules <= documented


def test_docs_ui_is_served_without_a_network(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"/api/v1/docs/assets/swagger-ui-bundle.js" in page.data
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
