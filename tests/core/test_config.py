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
