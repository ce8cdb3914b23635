"""The migrations build exactly the schema the models declare, on every engine."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import analytics.models  # noqa: F401
import auth.models  # noqa: F401
import campaigns.models  # noqa: F401
import core.models  # noqa: F401
import patients.models  # noqa: F401
import segments.models  # noqa: F401
from core.db import Base


def test_migrated_schema_matches_the_models(app):
    with app.extensions["sendwell.engine"].connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_sqlite_stores_instants_as_integers_not_date_text(app, session):
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        return
    from sqlalchemy import text

    from core.audit import record

    record(session, "tester", "test.event")
    session.commit()
    stored = session.execute(text("SELECT typeof(at) FROM audit_events")).scalar_one()
    assert stored == "integer"
