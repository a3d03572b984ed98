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
        for code in codes - {c for c in codes if c.startswith("2")} - {"304"}:  # 304: no body at all
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


OPERATIONS = {"get", "post", "put", "patch", "delete"}


def test_every_operation_has_a_stable_unique_operation_id(client):
    from api.links import operation_id

    ids = {}
    for path, item in spec(client)["paths"].items():
        for method, op in item.items():
            if method in OPERATIONS:
                assert op.get("operationId"), (method, path)
                ids.setdefault(op["operationId"], []).append((method, path))
    assert all(len(where) == 1 for where in ids.values()), {i: w for i, w in ids.items() if len(w) > 1}
    # Derived from method and path, so they change only when the path does.
    assert ids["post_cases"] == [("post", "/api/v1/cases")]
    assert operation_id("post", "/api/v1/visits/{visit_id}/check-in") == "post_visits_visit_id_check_in"


def test_document_declares_the_workflow_links(client):
    """Every link of api/links.py is in the document, on its source's success response, and names
    a real operation with parameters it has, so stateful fuzzing cannot silently lose them."""
    from api.links import LINKS, PREFIX

    document = spec(client)
    by_id = {op["operationId"]: (method, path, op, item) for path, item in document["paths"].items()
             for method, op in item.items() if method in OPERATIONS}
    declared = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in OPERATIONS:
                continue
            for status, response in op["responses"].items():
                for name, link in response.get("links", {}).items():
                    declared[(method, path.removeprefix(PREFIX), status, name)] = link
    assert len(declared) >= 60
    for link in LINKS:
        method, path, status = link.source
        found = declared.get((method, path, status, link.name))
        assert found is not None, f"{link.name}: {method.upper()} {path} {status} lost its link"
        target_method, target_path, target, item = by_id[found["operationId"]]
        assert (target_method, target_path) == (link.target[0], PREFIX + link.target[1]), link.name
        names = {_resolved(document, p)["name"] for p in item.get("parameters", []) + target.get("parameters", [])}
        assert set(found.get("parameters", {})) <= names, (link.name, names)
        if "requestBody" in found:
            assert "requestBody" in target, link.name
        for expression in [*found.get("parameters", {}).values(), *found.get("requestBody", {}).values()]:
            assert not isinstance(expression, str) or not expression.startswith("$") or \
                re.fullmatch(r"\$(response\.body#(/[\w-]+)*|request\.path\.\w+)", expression), expression

    # The workflows the API is for, by name.
    def linked(source, status, target):
        return any(link["operationId"] == target for (m, p, s, _), link in declared.items()
                   if (m, p) == source and s == status)

    assert linked(("post", "/cases"), "201", "get_cases_case_id")
    assert linked(("post", "/cases"), "201", "post_visits")
    assert linked(("post", "/visits"), "201", "post_visits_visit_id_check_in")
    assert linked(("post", "/visits/{visit_id}/check-in"), "200", "post_visits_visit_id_check_out")
    assert linked(("post", "/evidence/uploads"), "201", "put_evidence_evidence_id_content")
    assert linked(("put", "/evidence/{evidence_id}/content"), "204", "post_evidence_evidence_id_complete")
    assert linked(("post", "/evidence"), "201", "get_evidence_evidence_id_custody")
    assert linked(("post", "/cases/{case_id}/packets"), "202", "get_packets_packet_id")
    assert linked(("post", "/verifications"), "202", "get_verifications_verification_id")
    assert linked(("post", "/users"), "201", "get_users_user_id")


def test_schemathesis_accepts_every_link(client):
    """schemathesis refuses (InvalidStateMachine) a document whose links name a missing operation,
    parameter or expression it cannot use; the stateful fuzz test depends on this one building."""
    import schemathesis

    machine = schemathesis.openapi.from_dict(spec(client)).as_state_machine()
    assert machine.schema.statistic.transitions.total > 0


def test_reads_of_unfinished_things_document_409(client):
    """Bytes of a pending upload and files of a packet still building answer 409; the contract says so."""
    paths = spec(client)["paths"]
    for path in ("/api/v1/evidence/{evidence_id}/content", "/api/v1/evidence/{evidence_id}/thumbnail",
                 "/api/v1/packets/{packet_id}/pdf", "/api/v1/packets/{packet_id}/bundle"):
        assert paths[path]["get"]["responses"]["409"]["$ref"].endswith("/CONFLICT"), path


def _schemas_by_direction(document):
    """Component schema names reachable from request bodies and parameters, and from responses."""
    components = document["components"]["schemas"]

    def refs(node, found):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and value.startswith("#/components/schemas/"):
                    name = value.rsplit("/", 1)[1]
                    if name not in found:
                        found.add(name)
                        refs(components[name], found)
                else:
                    refs(value, found)
        elif isinstance(node, list):
            for value in node:
                refs(value, found)
        return found

    requests, responses = set(), set()
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                refs([operation.get("requestBody", {}), operation.get("parameters", [])], requests)
                refs(operation.get("responses", {}), responses)
    return requests, responses


def test_no_required_field_is_write_only_or_read_only(client):
    """A generated client parses a response with the same model it sends: a required write-only
    field (a password) made the first call of such a client fail; requests and responses that
    differ are separate schemas."""
    document = client.get("/api/v1/openapi.json").get_json()
    wrong = [f"{name}.{field}" for name, schema in document["components"]["schemas"].items()
             for field, spec in schema.get("properties", {}).items()
             if field in schema.get("required", []) and (spec.get("writeOnly") or spec.get("readOnly"))]
    assert wrong == []
    requests, responses = _schemas_by_direction(document)
    assert {"UserCreate", "DeviceCreate", "Login"} <= requests and {"User", "Device", "Token"} <= responses
    assert "User" not in requests and "UserCreate" not in responses


def test_downloads_offer_octet_stream_beside_their_media_type(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, media in [("/api/v1/packets/{packet_id}/pdf", "application/pdf"),
                        ("/api/v1/packets/{packet_id}/bundle", "application/zip"),
                        ("/api/v1/evidence/{evidence_id}/thumbnail", "image/jpeg"),
                        ("/api/v1/evidence/{evidence_id}/content", "image/jpeg")]:
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert {media, "application/octet-stream"} <= set(content), path


def test_nullable_nested_objects_are_one_reference(client):
    """`allOf: [ref]` + `nullable`, not `anyOf: [any object, ref]`, which generators read as any object."""
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["Visit"]
    assert schema["properties"]["check_in"] == {"allOf": [{"$ref": "#/components/schemas/CheckIn"}], "nullable": True}


def test_etag_reads_and_conditional_writes_are_documented(client):
    """ETag on the case and user reads, If-Match (optional) with 412/428 on their writes."""
    document = spec(client)
    parameters = document["components"]["parameters"]
    assert parameters["IF_MATCH"]["required"] is False and "428" in parameters["IF_MATCH"]["description"]
    for path in ("/api/v1/cases/{case_id}", "/api/v1/users/{user_id}"):
        get, patch = document["paths"][path]["get"], document["paths"][path]["patch"]
        assert "ETag" in get["responses"]["200"]["headers"] and "304" in get["responses"]
        assert {"412", "428"} <= set(patch["responses"]) and "ETag" in patch["responses"]["200"]["headers"]
        assert {"$ref": "#/components/parameters/IF_MATCH"} in patch["parameters"]


def _resolved(document, parameter):
    """A parameter, or the component a `$ref` names (If-Match and If-None-Match are components)."""
    if "$ref" not in parameter:
        return parameter
    return document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
