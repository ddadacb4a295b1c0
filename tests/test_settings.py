"""dae_core.settings: every DAE_* variable read in one place, as its kind says; a bad value is one
ConfigError line naming the variable and what it accepts; the deploy guide's table is the fields'."""
import re
from dataclasses import fields
from pathlib import Path

import pytest

from dae_core import settings as settings_module
from dae_core.errors import ConfigError
from dae_core.paths import ROOT
from dae_core.settings import Settings, environment, settings, settings_table

ENV = {f.name: f.metadata["env"] for f in fields(Settings)}


@pytest.fixture
def bare(monkeypatch):
    """No DAE_* setting in the environment (the tests' own folders included)."""
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unset_variables_give_the_defaults(bare):
    s = settings()
    assert s == Settings() and s.max_analyses == 2 and s.cache_max_mb == 1024.0
    assert s.runs_dir == ROOT / "checkpoints" / "runs" and s.log_level == "INFO" and s.explorer is True


@pytest.mark.parametrize("cores, slots", [(8, 4), (3, 1), (1, 1), (None, 1)])
def test_the_slots_default_to_half_the_cores(monkeypatch, cores, slots):
    monkeypatch.setattr(settings_module.os, "cpu_count", lambda: cores)
    assert Settings().max_runs == Settings().page_fits == slots  # never no slot at all


@pytest.mark.parametrize("name, text, value", [
    ("max_runs", "3", 3), ("max_runs", " 12 ", 12), ("ray_port", "65535", 65535),
    ("cache_max_mb", "0.5", 0.5), ("memory_cache_mb", "0", 0.0),
    ("explorer", "OFF", False), ("explorer", "no", False), ("explorer", "1", True),
    ("log_level", "debug", "DEBUG"), ("runs_dir", "/srv/runs", Path("/srv/runs")),
    ("default_model", "denoise-d10", "denoise-d10"),
])
def test_a_variable_is_read_as_its_kind_says(bare, name, text, value):
    bare.setenv(ENV[name], text)
    got = getattr(settings(), name)
    assert got == value and type(got) is type(value)


def test_a_blank_variable_counts_as_unset(bare):
    bare.setenv("DAE_MAX_TASKS", "  ")
    bare.setenv("DAE_RUNS_DIR", "")
    assert settings() == Settings()


@pytest.mark.parametrize("name, text", [
    ("max_runs", "0"), ("max_runs", "two"), ("max_runs", "1.5"), ("max_uploads", "-1"),
    ("ray_port", "80"), ("ray_dashboard_port", "65535"), ("cache_max_mb", "-1"),
    ("cache_max_mb", "nan"), ("max_upload_mb", "inf"), ("explorer", "maybe"),
    ("log_level", "loud"), ("runs_max_mb", "9" * 5000), ("default_model", "../etc/passwd"),
    ("default_model", "a b"),
])
def test_a_bad_value_is_one_line_naming_the_variable_and_what_it_accepts(bare, name, text):
    bare.setenv(ENV[name], text)
    with pytest.raises(ConfigError) as e:
        settings()
    message = str(e.value)
    accepts = next(f for f in fields(Settings) if f.name == name).metadata["kind"].accepts
    assert message.startswith(f"{ENV[name]} must be {accepts}, not ")
    assert "\n" not in message and len(message) < 200


def test_values_given_in_code_are_checked_too():
    assert Settings(max_runs="3", explorer="off").max_runs == 3
    for bad in ({"max_runs": True}, {"max_runs": 2.5}, {"log_level": None}):
        with pytest.raises(ConfigError):
            Settings(**bad)


def test_the_settings_are_read_once_and_a_change_of_the_environment_is_seen(bare):
    first = settings()
    assert settings() is first  # built once, then the same object
    bare.setenv("DAE_MAX_TASKS", "5")
    assert settings().max_analyses == 5 and settings() is settings()
    bare.delenv("DAE_MAX_TASKS")
    assert settings().max_analyses == Settings().max_analyses


def test_a_job_is_passed_the_variables_that_are_set(bare, tmp_path):
    bare.setenv("DAE_CACHE_DIR", str(tmp_path))
    bare.setenv("DAE_MAX_RUNS", "3")  # not asked for: not passed
    assert environment("cache_dir", "data_dir", "log_level") == {"DAE_CACHE_DIR": str(tmp_path)}


def test_the_deploy_guides_table_is_the_settings_table():
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = guide.split("\n## Settings\n", 1)[1]
    table = re.search(r"^\|.*?\n(?!\|)", section, re.S | re.M).group(0)
    assert table == settings_table()
    assert len(settings_table().splitlines()) == len(fields(Settings)) + 2


def test_no_other_module_reads_a_dae_variable():
    """The app's DAE_* variables are named in dae_core/settings.py alone (in quotes, as a read
    would name them); everything else asks settings()."""
    sources = [ROOT / "streamlit_app.py", ROOT / "app_menu.py", *(ROOT / "dae_core").rglob("*.py"),
               *(ROOT / "ui").rglob("*.py"), *(ROOT / "app_pages").glob("*.py")]
    readers = [str(p.relative_to(ROOT)) for p in sources if p.name != "settings.py"
               and re.search(r"[\"']DAE_[A-Z_]+[\"']", p.read_text(encoding="utf-8"))]
    assert readers == []
