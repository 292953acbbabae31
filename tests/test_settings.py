from pathlib import Path

import pytest
from conftest import REPO

from kb.errors import ConfigError
from kb.settings import SETTINGS, Settings, load_settings


def test_defaults_work_without_any_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.cases_dir == Path("cases")
    assert settings.id_pattern == r"ESC-\d{4}-\d{4}"
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'kb-data' / 'kb.sqlite3')}"


def test_layers_apply_in_order_file_then_environment_then_arguments(tmp_path):
    config = tmp_path / "kb.toml"
    config.write_text('cases_dir = "from-file"\nrrf_k = 10\nsearch_limit = 7\n')
    settings = load_settings(
        config, environ={"KB_RRF_K": "20", "KB_SEARCH_LIMIT": "8"}, search_limit=9
    )
    assert settings.cases_dir == Path("from-file")
    assert settings.rrf_k == 20
    assert settings.search_limit == 9


def test_every_bad_key_and_value_is_reported_at_once(tmp_path):
    config = tmp_path / "kb.toml"
    config.write_text('colour = "blue"\nrrf_k = "many"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config, environ={"KB_DEVICE": "tpu", "KB_NOPE": "1"})
    text = str(err.value)
    assert "unknown setting colour" in text and "KB_NOPE" in text and "rrf_k must be int" in text


def test_values_are_validated():
    with pytest.raises(ConfigError, match="device"):
        load_settings(environ={"KB_DEVICE": "tpu"})
    with pytest.raises(ConfigError, match="id_pattern"):
        load_settings(environ={"KB_ID_PATTERN": "ESC-("})
    with pytest.raises(ConfigError, match="fusion_weights"):
        load_settings(environ={"KB_FUSION_WEIGHTS": "fr:dense=1"})
    with pytest.raises(ConfigError, match="embed_precision: float16 needs device cuda"):
        load_settings(environ={"KB_EMBED_PRECISION": "float16"})
    with pytest.raises(ConfigError, match="embed_precision"):
        load_settings(environ={"KB_EMBED_PRECISION": "int4"})
    assert (
        load_settings(
            environ={"KB_EMBED_PRECISION": "float16", "KB_DEVICE": "cuda"}
        ).embed_precision
        == "float16"
    )


def test_custom_id_pattern_is_honoured():
    settings = load_settings(environ={"KB_ID_PATTERN": r"SUP-\d{5}"})
    assert settings.id_regex.fullmatch("SUP-12345")
    assert not settings.id_regex.fullmatch("ESC-2026-0001")


def test_every_setting_is_documented_in_the_readme():
    readme = (REPO / "docs" / "configuration.md").read_text("utf-8")
    missing = [f.name for f in SETTINGS if f"KB_{f.name.upper()}" not in readme]
    assert missing == []
    assert all(f.metadata.get("help") for f in SETTINGS)


def test_replace_validates():
    with pytest.raises(ConfigError):
        Settings().replace(rrf_k=0)
