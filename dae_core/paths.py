"""Where the checkout's folders are: the package is installed from it (`pip install -e .`), and
its checkpoints/ and data/ sit next to dae_core/."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_DIR = ROOT / "checkpoints"  # the shipped models
