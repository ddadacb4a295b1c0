"""Entry point of `python -m dae_core`."""
import sys

from .cli import main

sys.exit(main())
