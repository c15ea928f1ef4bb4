import math
from pathlib import Path

import pytest

from galvasr.config import Config, ConfigError, load_config, parse_overrides, to_toml

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_lists_every_default():
    shipped = load_config(REPO / "configs" / "galvasr.toml")
    assert shipped == Config()


def test_toml_round_trip_with_overrides(tmp_path):
    config = load_config(None, parse_overrides(["decode.window_ms=20000", "release.name=x"]))
    assert config.decode.window_ms == 20000 and config.release.name == "x"
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert load_config(path) == config
    assert math.isinf(load_config(path).release.min_score)


def test_unknown_settings_and_bad_values_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown setting"):
        load_config(None, {"decode": {"window_sec": 3}})
    with pytest.raises(ValueError, match="SECTION.KEY=VALUE"):
        parse_overrides(["window_ms=3"])
    with pytest.raises(ValueError, match="multiples of 20 ms"):
        load_config(None, {"decode": {"window_ms": 30_001}})


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        (
            "align.max_segment_s=abc",
            "setting align.max_segment_s: expected a number, got str 'abc'",
        ),
        ("align.max_segment_s=[1, 2]", "setting align.max_segment_s: expected a number, got list"),
        ("align.max_segment_s=true", "setting align.max_segment_s: expected a number, got bool"),
        ("decode.window_ms=30000.0", "setting decode.window_ms: expected an integer, got float"),
        ('decode.window_ms="30000"', "setting decode.window_ms: expected an integer, got str"),
        ("align.snap_to_audio=1", "setting align.snap_to_audio: expected true or false"),
        ("release.name=[1]", "setting release.name: expected a string, got list"),
        ('decode.formats="mp3"', "setting decode.formats: expected a list, got str"),
        ('decode.formats=["mp3", 3]', r"setting decode.formats\[1\]: expected a string, got int"),
        ("decode.bucket_edges_ms=[1000, 2.5]", r"decode.bucket_edges_ms\[1\]: expected an integer"),
        ('ingest.items_dir="../elsewhere"', "items_dir '../elsewhere' must stay inside"),
    ],
)
def test_a_setting_of_the_wrong_type_is_one_clear_error(assignment, message):
    """Checked against the declared types before any stage runs, in one line."""
    with pytest.raises(ConfigError, match=message) as error:
        load_config(None, parse_overrides([assignment]))
    assert "\n" not in str(error.value)
    assert isinstance(error.value, ValueError)


def test_a_toml_file_of_the_wrong_types_is_one_clear_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[align]\nmax_segment_s = "long"\n')
    with pytest.raises(ConfigError, match="setting align.max_segment_s: expected a number"):
        load_config(path)
    path.write_text("decode = 3\n")
    with pytest.raises(ConfigError, match=r"\[decode\] must be a table"):
        load_config(path)
    path.write_text("decode = 3\n")
    with pytest.raises(ConfigError, match=r"\[decode\] must be a table"):
        load_config(path, {"decode": {"window_ms": 20_000}})
    path.write_text("[align\n")
    with pytest.raises(ConfigError, match="not TOML"):
        load_config(path)


def test_an_integer_is_a_number_and_stays_typed():
    config = load_config(None, parse_overrides(["align.max_segment_s=17", "release.min_score=-5"]))
    assert config.align.max_segment_s == 17.0 and isinstance(config.align.max_segment_s, float)
    assert isinstance(config.release.min_score, float)
    assert load_config(None, parse_overrides(['ingest.items_dir="."'])).ingest.items_dir == "."
