import math
from pathlib import Path

import pytest

from galvasr.config import Config, load_config, parse_overrides, to_toml

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
