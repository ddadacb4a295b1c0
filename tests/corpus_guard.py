"""What a stray write would change, for the bad-input corpus tests (CLI and UI alike)."""
import hashlib
from pathlib import Path

from dae_core.paths import ROOT

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


def tree(directory: Path) -> dict[str, str]:
    """relative path -> content hash of every file below `directory`."""
    return {str(p.relative_to(directory)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def outside() -> tuple:
    """The corpus and the shipped reference (contents), and the listings of the repo root, data/,
    checkpoints/runs/ and /etc. (Not all of checkpoints/: other work may add models there while
    the tests run.)"""
    names = [sorted(p.name for p in d.iterdir()) for d in
             (ROOT, ROOT / "data", ROOT / "checkpoints" / "runs", Path("/etc"))]
    shipped = hashlib.md5((ROOT / "checkpoints" / "reference-d4.pt").read_bytes()).hexdigest()
    return tree(CORPUS), shipped, names
