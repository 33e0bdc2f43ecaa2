"""Errors: problem+json under /api/, HTML pages elsewhere; health check."""

from sqlalchemy.exc import OperationalError

from marketplace import db


def test_an_unknown_api_path_is_a_404_problem(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert set(response.json) >= {"type", "title", "status", "detail"}


def test_an_unknown_page_is_an_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "404" in response.text


def test_a_malformed_json_body_is_400(as_role):
    response = as_role("bank").post("/api/v1/products", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_a_form_encoded_body_to_the_api_is_415(as_role):
    response = as_role("bank").post("/api/v1/products", data={"name": "x"})
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


def test_nan_in_json_is_refused_as_malformed(as_role):
    response = as_role("bank").post("/api/v1/products", data='{"amount_min": NaN}',
                                    content_type="application/json")
    assert response.status_code == 400


def test_unknown_fields_are_refused_not_ignored(as_role):
    response = as_role("admin").put("/api/v1/lpr", json={"effective_on": "2025-10-20", "lpr_1y": "0.0300",
                                                         "lpr_5y": "0.0350", "lpr_10y": "0.04"})
    assert response.status_code == 422
    assert "lpr_10y" in response.json["errors"]


def test_a_page_size_over_500_is_422(as_role):
    response = as_role("bank").get("/api/v1/products?page_size=1000000000")
    assert response.status_code == 422
    assert "page_size" in response.json["errors"]


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "error"}


def test_the_openapi_document_describes_every_endpoint(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    for path, method in [("/api/v1/auth/token", "post"), ("/api/v1/banks", "post"), ("/api/v1/agencies", "post"),
                         ("/api/v1/users", "post"), ("/api/v1/lpr", "put"), ("/api/v1/lpr", "get"),
                         ("/api/v1/products", "post"), ("/api/v1/products", "get"),
                         ("/api/v1/products/{product_id}", "get"), ("/api/v1/products/{product_id}", "patch"),
                         ("/api/v1/products/{product_id}/publish", "post"),
                         ("/api/v1/products/{product_id}/suspend", "post"),
                         ("/api/v1/products/{product_id}/archive", "post"), ("/healthz", "get")]:
        assert method in paths[path], (path, method)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert paths["/api/v1/auth/token"]["post"]["security"] == []


def test_the_api_docs_render_with_their_assets_served_locally(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in page.text
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
