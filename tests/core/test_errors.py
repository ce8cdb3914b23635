"""Error pages are generic, styled and safe: no exception text, no request data."""


def test_unknown_page_gets_the_styled_404(client):
    response = client.get("/no-such-page/<script>x</script>")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "Page not found" in body and "<script>x" not in body
    assert "Content-Security-Policy" in response.headers


def test_json_callers_get_json_errors(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "Page not found"}


def test_a_missing_object_is_a_404_page_not_a_redirect(app, client, monkeypatch):
    from auth.models import Role
    from core.db import new_session
    from tests.web import allow_test_sign_in, sign_in_as

    allow_test_sign_in(app, monkeypatch)
    with app.app_context(), new_session() as session:
        sign_in_as(client, session, Role.MARKETER)
    response = client.get("/segments/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404, response.headers.get("Location")
    assert "No such segment." in response.get_data(as_text=True)
