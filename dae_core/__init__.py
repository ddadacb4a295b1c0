"""DAE Lab's core: data, the denoising autoencoder, training, checkpoints and analysis; no UI."""
import logging

from dae_core.config import TrainConfig
from dae_core.errors import ConfigError, DaeError

# A library logs, the application decides where to: without this, Python's last-resort handler
# would print a refused checkpoint's traceback on the command line's stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["ConfigError", "DaeError", "TrainConfig"]
__version__ = "0.1.0"
