"""dae_core never imports streamlit: the dependency points one way (pages -> core)."""
import re
import subprocess
import sys
from pathlib import Path

import dae_core

CORE = Path(dae_core.__file__).parent
MODULES = sorted(p.stem for p in CORE.glob("*.py") if p.stem not in ("__init__", "__main__"))


def test_modules_exist():
    assert {"cli", "train", "checkpoint", "data", "model", "latent", "cluster", "images"} <= set(MODULES)


def test_importing_the_core_does_not_load_streamlit():
    imports = "; ".join(f"import dae_core.{m}" for m in MODULES)
    code = f"import dae_core; {imports}; import sys; assert 'streamlit' not in sys.modules, 'loaded'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=CORE.parent)
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_core_file_mentions_a_streamlit_import():
    pattern = re.compile(r"^\s*(import\s+streamlit|from\s+streamlit)|__import__\(\s*['\"]streamlit"
                         r"|import_module\(\s*['\"]streamlit", re.M)
    offenders = [p.name for p in CORE.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
