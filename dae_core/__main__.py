"""Entry point of `python -m dae_core`."""
import sys

from dae_core.cli import main

sys.exit(main())
