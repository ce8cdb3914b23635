import json

from core.models import AuditEvent
from tests.factories import make_patient


def test_patients_export_ndjson_is_audited(runner, session, tmp_path):
    make_patient(session, first_name="Ana", conditions=["hypertension"],
                 risk_flags=["hypertension"])
    session.commit()
    out = tmp_path / "patients.ndjson"
    result = runner.invoke(args=["patients", "export", "--out", str(out),
                                 "--as-of", "2023-12-31"])
    assert result.exit_code == 0
    (line,) = out.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["first_name"] == "Ana"
    assert record["facets"]["condition_groups"] == ["hypertension"]
    assert record["facets"]["age"] == 43
    assert record["consent"]["email_opt_in"] == "yes"
    actions = [a.action for a in session.query(AuditEvent)]
    assert actions == ["patients.export"]


def test_export_file_is_readable_by_its_owner_only(runner, session, tmp_path):
    out = tmp_path / "patients.ndjson"
    result = runner.invoke(args=["patients", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600


def test_export_to_a_missing_folder_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(args=["patients", "export", "--out", str(tmp_path / "no" / "x")])
    assert result.exit_code == 1
    assert "cannot write" in result.output
    assert "Traceback" not in result.output
