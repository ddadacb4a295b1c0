"""The app's import footprint: dae_core never loads streamlit (pages -> core, one way), and
neither the core nor ui/ loads torchvision (~160 MiB and ~1 s for the server, used by none)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dae_core

CORE = Path(dae_core.__file__).parent
ROOT = CORE.parent
MODULES = sorted(".".join(p.relative_to(CORE).with_suffix("").parts) for p in CORE.rglob("*.py")
                 if p.stem not in ("__init__", "__main__"))
UI_MODULES = sorted(p.stem for p in (ROOT / "ui").glob("*.py") if p.stem != "__init__")

# Imports every core module, notes what is loaded, then every ui module; prints both notes.
FOOTPRINT = """
import importlib, json, sys
loaded = lambda: sorted(m for m in ("streamlit", "torchvision", "ray") if m in sys.modules)
for m in {core}: importlib.import_module("dae_core." + m)
core = loaded()
for m in {ui}: importlib.import_module("ui." + m)
print(json.dumps({{"core": core, "app": loaded()}}))
"""


def test_modules_exist():
    assert {"train", "checkpoint", "data", "model", "analysis.latent", "analysis.cluster", "serve.jobs",
            "cli.train"} <= set(MODULES)
    assert {"cache", "sidebar"} <= set(UI_MODULES)


@pytest.mark.slow  # starts another Python process
def test_the_core_loads_no_streamlit_and_the_app_no_torchvision():
    code = FOOTPRINT.format(core=MODULES, ui=UI_MODULES)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["core"] == []  # neither streamlit nor torchvision nor ray after every dae_core module
    assert loaded["app"] == ["streamlit"]  # ui/ is the Streamlit side; still no torchvision, and the
    # server is no Ray driver: it speaks to Ray's job server over HTTP (dae_core.serve.ray_jobs)


def test_no_core_file_mentions_a_streamlit_import():
    pattern = re.compile(r"^\s*(import\s+streamlit|from\s+streamlit)|__import__\(\s*['\"]streamlit"
                         r"|import_module\(\s*['\"]streamlit", re.M)
    offenders = [p.name for p in CORE.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_no_code_outside_serve_speaks_to_ray():
    """dae_core.serve is the one place that reaches Ray (and only over HTTP and its CLI)."""
    pattern = re.compile(r"^\s*(import\s+ray|from\s+ray)\b|ray_jobs", re.M)
    files = [*CORE.rglob("*.py"), *(ROOT / "ui").rglob("*.py"), *(ROOT / "app_pages").glob("*.py")]
    offenders = sorted(str(p.relative_to(ROOT)) for p in files
                       if pattern.search(p.read_text()) and p.parent != CORE / "serve")
    assert offenders == []


@pytest.mark.slow  # starts another Python process
def test_reading_runs_and_jobs_loads_no_torch():
    """Reading a run folder and asking Ray about a job need no PyTorch (dae_core.serve.runs): a
    process that only follows runs and jobs never pays its ~500 MB import."""
    code = ("import sys, dae_core.serve.runs, dae_core.serve.jobs, dae_core.serve.analyses; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.slow  # starts another Python process
def test_an_analysis_job_on_cached_codes_loads_no_torch(tmp_path, monkeypatch):
    """An analysis named by its model's fingerprint, whose codes the cache holds (the shipped
    reference's), is computed into the cache by a process that never imports PyTorch."""
    from dae_core import checkpoint, store
    from dae_core.analysis.pipeline import CLUSTERING, CODES, clustering_params

    ck = checkpoint.load(ROOT / "checkpoints" / "reference-d4.pt")
    fp = store.fingerprint(ck.model, ck.config)
    spec = {"kind": "clustering", "checkpoint": "checkpoints/reference-d4.pt", "k": 3, "method": "kmeans",
            "seed": 7, "model": fp, "class_dims": None}
    code = ("import json, sys; from dae_core.cli import main; "
            f"rc = main(['analyse', '--spec', {json.dumps(json.dumps(spec))}]); "
            "print(json.dumps([rc, 'torch' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "DAE_CACHE_DIR": str(tmp_path)})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, False], done.stderr[-2000:]
    monkeypatch.setenv("DAE_CACHE_DIR", str(tmp_path))
    codes = store.get(CODES, fp, {})
    found = store.get(CLUSTERING, fp, clustering_params(codes, "kmeans", 3, 7, None))
    assert found is not None and found.k == 3 and 0.2 < found.train.accuracy < 0.6
