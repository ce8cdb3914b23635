import pytest

from core.config import parse_bool
from core.errors import ConfigError


@pytest.mark.parametrize("word,expected", [("1", True), ("TRUE", True), ("Yes", True),
                                           ("on", True), ("0", False), ("False", False),
                                           ("NO", False), ("off", False)])
def test_parse_bool_accepts_the_documented_words(word, expected):
    assert parse_bool("X", word) is expected


def test_parse_bool_refuses_anything_else():
    with pytest.raises(ConfigError, match="SENDWELL_X"):
        parse_bool("X", "maybe")


def test_environment_overrides_whole_number_settings(monkeypatch, app_config):
    from app import create_app

    monkeypatch.setenv("SENDWELL_CDP_MAX_ROWS", "1000")
    app = create_app(app_config)
    assert app.config["CDP_MAX_ROWS"] == 1000
    app.extensions["sendwell.engine"].dispose()


def test_a_bad_whole_number_stops_start_up(monkeypatch, app_config):
    from app import create_app

    monkeypatch.setenv("SENDWELL_CDP_MAX_ROWS", "lots")
    with pytest.raises(ConfigError, match="SENDWELL_CDP_MAX_ROWS"):
        create_app(app_config)
