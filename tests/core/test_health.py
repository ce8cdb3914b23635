def test_liveness_answers_without_signing_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readiness_checks_database_and_keys(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "keys": "ok"}


def test_readiness_fails_when_migrations_are_pending(app, client):
    from sqlalchemy import text

    with app.extensions["sendwell.engine"].begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "migrations pending"
