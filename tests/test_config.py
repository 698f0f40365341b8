"""Config loading: the YAML default matches the embedded one, and errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ewp.config import Config, ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_default_yaml_is_the_embedded_default() -> None:
    assert load_config(CONFIGS / "default.yaml") == Config()
    assert load_config(None) == Config()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    assert isinstance(load_config(path), Config)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("label:\n  horizon_day: 365\n", "label.horizon_day: unknown key (expected one of: "),
        ("label:\n  horizon_days: 0\n", "label.horizon_days: Input should be greater than 0"),
        ("training:\n  as_of_start: 2016-13-01\n", "training.as_of_start"),
        ("taxonomy:\n  Rudeness: rude\n", "'Rudeness' maps to 'rude'"),
        ("synthetic:\n  start_year: 2020\n  end_year: 2010\n", "end_year (2010) is before"),
        ("label:\n  serious_categories: [violence]\n", "unknown categories ['violence']"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_config_is_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        Config().name = "changed"  # type: ignore[misc]
