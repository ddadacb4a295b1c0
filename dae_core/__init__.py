"""DAE Lab's core: data, the denoising autoencoder, training, checkpoints and analysis; no UI."""
from .config import ConfigError, TrainConfig
from .errors import DaeError

__all__ = ["ConfigError", "DaeError", "TrainConfig"]
__version__ = "0.1.0"
