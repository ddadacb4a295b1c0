"""Checkpoints as plain data: atomic save, safe load (weights_only), model cards."""
from __future__ import annotations

import copy
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from dae_core.config import TrainConfig
from dae_core.device import place, resolve_device
from dae_core.errors import CheckpointError, ConfigError, file_label, shown
from dae_core.files import write_atomic
from dae_core.model import DenoisingAutoencoder
from dae_core.records import check_optimizer, checked_history, checked_metrics
from dae_core.split import SplitAutoencoder, SplitConfig
from dae_core.optim import make_optimizer
from dae_core.state import TrainState

FORMAT = "dae-lab-checkpoint"
FORMAT_VERSION = 1
AUTOENCODER = "autoencoder"  # the kind of a file without a "kind" record


_log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model plus everything the file said about it."""

    path: Path | None
    config: TrainConfig
    model: DenoisingAutoencoder
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    optimizer_state: dict | None = None
    created: str = ""
    parts: dict = field(default_factory=dict)  # a split model's {"class": dims, "style": dims} of z

    @property
    def name(self) -> str:
        return self.path.stem if self.path else "unsaved"


def make_payload(kind: str, model: torch.nn.Module, config: TrainConfig, history: list | None = None,
            metrics: dict | None = None, optimizer: torch.optim.Optimizer | None = None, **extra) -> dict:
    """The plain-data dict that torch.save writes (tensors, numbers, strings, lists, dicts) for any
    model kind ("autoencoder", "classifier"); `extra` adds kind-specific records."""
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": [dict(h) for h in (history or [])],
        "metrics": dict(metrics or {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
        **extra,
    }
    if optimizer is not None:
        out["optimizer"] = _to_cpu(optimizer.state_dict())
    return out


def to_payload(state: TrainState, metrics: dict | None = None) -> dict:
    """An autoencoder's training state (model, optimizer, config, history) and model card as plain data."""
    return make_payload(AUTOENCODER, state.model, state.config, state.history, metrics, state.optimizer,
                        **split_records(state.model))


def split_records(model: torch.nn.Module) -> dict:
    """A split model's records: its SplitConfig ("split") and which coordinates of z are class and
    which style ("parts"); nothing for the reference autoencoder, whose files stay as they were."""
    if not isinstance(model, SplitAutoencoder):
        return {}
    return {"split": model.split_config.to_dict(),
            "parts": {"class": model.class_dims, "style": model.style_dims}}


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def save(payload: dict, path: str | Path, overwrite: bool = True) -> Path:
    """Write a checkpoint atomically (see write_file); overwrite=False refuses an existing `path`."""
    return write_file(path, lambda f: torch.save(payload, f), overwrite, "save checkpoint to")


def write_file(path: str | Path, write, overwrite: bool = True, doing: str = "write") -> Path:
    """files.write_atomic, its failures as one-line CheckpointErrors ("cannot <doing> <path>: why")."""
    try:
        return write_atomic(path, write, overwrite)
    except FileExistsError:
        raise CheckpointError(f"{path} already exists") from None
    except OSError as e:
        raise CheckpointError(f"cannot {doing} {path}: {e.strerror or e}") from None


def save_state(state: TrainState, path: str | Path, metrics: dict | None = None) -> Path:
    """Save a training state (model, optimizer, config, history, metrics)."""
    return save(to_payload(state, metrics), path)


def read_payload(path: str | Path, kind: str = AUTOENCODER) -> dict:
    """torch.load with weights_only=True: a pickle that carries code is refused, never run.

    Then the header: the DAE Lab format, a version this release reads, and the model `kind`
    ("autoencoder", "classifier"); a one-line CheckpointError otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no {_noun(kind)} file at {shown(str(path), 200)}")
    return _checked_payload(path, file_label(path.name), path.stat().st_size, kind)


def _noun(kind: str) -> str:
    return "checkpoint" if kind == AUTOENCODER else kind


def _checked_payload(source: Path | io.BytesIO, label: str, size: int, kind: str) -> dict:
    """The payload of a file or of its bytes (load_bytes), after every check read_payload promises."""
    noun = _noun(kind)
    if size == 0:
        raise CheckpointError(f"{label} is empty")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...
        _log_refusal(label, e)
        raise CheckpointError(f"{label} {_reason(e, noun)}; nothing was loaded") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{label} is not a DAE Lab {noun} (it holds other data); nothing "
                              "was loaded")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(f"{label} has {noun} format version {shown(version)}; this DAE Lab "
                              f"reads up to {FORMAT_VERSION}: upgrade DAE Lab to open it")
    found = payload.get("kind", AUTOENCODER)
    if found != kind:
        raise CheckpointError(f"{label} holds a model of kind {shown(found)}; expected {kind!r}")
    return payload


def _log_refusal(label: str, e: Exception) -> None:
    """The user reads what is wrong with the file; the server's log keeps the exception: its type
    and text on one line, and its traceback at DEBUG level (DAE_LOG_LEVEL=DEBUG)."""
    _log.warning("refused %s: %s: %s", label, type(e).__name__, " ".join(str(e).split())[:2000])
    _log.debug("refused %s", label, exc_info=e)


def _reason(e: Exception, noun: str) -> str:
    """Why torch.load refused a file, in the user's words: a pickle that asks to import code
    (refused by the safe unpickler), or anything else, a damaged file or one of another kind."""
    if re.search(r"unsupported global|unrecognized function", str(e), re.IGNORECASE):
        return (f"is not a safe DAE Lab {noun}: it asks to run program code, which DAE Lab "
                "never does")
    return f"is not a DAE Lab {noun} (the file is damaged or of another kind)"


def from_payload(payload: dict, path: Path | None = None, device: str | None = None,
                 label: str | None = None) -> Checkpoint:
    """Rebuild the model from the payload alone, refusing mismatched shapes and non-finite weights.

    `label` names the file in the messages (default: the path's file name)."""
    label = label or (file_label(path.name) if path else "checkpoint")
    try:
        cfg = TrainConfig.from_dict(payload.get("config"))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{label} has a bad config: {' '.join(str(e).split())}") from None
    history, metrics = checked_history(payload, label), checked_metrics(payload, label)
    model = _new_model(payload, cfg, label)
    load_weights(model, payload.get("model"), label, f"its config (d={cfg.latent_dim}, width={cfg.width})")
    model = place(model, resolve_device(device or "cpu")).eval()  # the layout training used
    opt = payload.get("optimizer") if isinstance(payload.get("optimizer"), dict) else None
    created = payload.get("created")
    parts = split_records(model).get("parts", {})
    return Checkpoint(path, cfg, model, history, metrics, opt,
                      " ".join(created.split())[:40] if isinstance(created, str) else "", parts)


def _new_model(payload: dict, cfg: TrainConfig, label: str) -> torch.nn.Module:
    """The architecture the payload names: a split model when it has a "split" record, else the
    reference autoencoder (every file written before split models existed)."""
    record = payload.get("split")
    if record is None:
        return DenoisingAutoencoder(cfg.latent_dim, cfg.width)
    try:
        split = SplitConfig.from_dict(record)
    except (ConfigError, TypeError, ValueError, OverflowError) as e:  # a huge int cannot even be quoted
        why = " ".join(str(e).split())[:200] if isinstance(e, ConfigError) else "its values are not numbers the model takes"
        raise CheckpointError(f"{label} has a bad split record: {why}") from None
    if split.n_classes + split.style_dim != cfg.latent_dim:
        raise CheckpointError(f"{label} has a split record ({split.n_classes} class + {split.style_dim} "
                              f"style coordinates) that does not match its latent size {cfg.latent_dim}")
    return SplitAutoencoder(split, cfg.width)


def load_weights(model: torch.nn.Module, state, label: str, source: str) -> None:
    """Load a file's weights `state` into `model` when they are plain (dense, finite) tensors of
    exactly the model's names, shapes and dtypes, as `source` ("its config (d=4, width=1)")
    builds it; a one-line CheckpointError otherwise (the model is then dropped: torch casts a bool
    or complex tensor as it copies, and has no isfinite for float8)."""
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CheckpointError(f"{label} has no model weights")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as e:  # names, shapes, layouts
        _log_refusal(label, e)
        raise CheckpointError(f"{label} does not match {source}: its weights are for a model of "
                              "another shape; nothing was loaded") from None
    own = model.state_dict()
    odd = next((k for k, v in state.items() if v.layout != torch.strided or v.is_meta
                or v.is_quantized or v.dtype != own[k].dtype), None)
    if odd is not None:
        raise CheckpointError(f"{label} has weights of an unexpected kind ({shown(odd)} is "
                              f"{str(state[odd].dtype).removeprefix('torch.')}, "
                              f"{str(state[odd].layout).removeprefix('torch.')}); nothing was loaded")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{label} has NaN or infinite weights (in {shown(bad[0])})")


def load(path: str | Path, device: str | None = None) -> Checkpoint:
    """Load and rebuild a checkpoint; every failure is a one-line CheckpointError."""
    path = Path(path)
    return from_payload(read_payload(path), path, device)


def load_bytes(data: bytes, name: str, device: str | None = None) -> Checkpoint:
    """A checkpoint from a file's bytes (an upload), checked exactly as load() checks a file;
    `name` (the uploaded file's name) labels the messages, and the result has no path."""
    label = file_label(name)  # a browser sends the name
    payload = _checked_payload(io.BytesIO(data), label, len(data), AUTOENCODER)
    return from_payload(payload, None, device, label=label)


def to_state(ckpt: Checkpoint, device: str | None = None) -> TrainState:
    """A TrainState that continues training from the checkpoint (optimizer state included)."""
    dev = resolve_device(device or ckpt.config.device)
    model = place(copy.deepcopy(ckpt.model), dev)  # never train a (possibly cached) loaded model
    opt = make_optimizer(model, ckpt.config, dev)
    if ckpt.optimizer_state:
        fresh = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
        try:
            opt.load_state_dict(ckpt.optimizer_state)
        except Exception as e:  # torch checks little and fails in many ways (KeyError, TypeError,
            _log_refusal(ckpt.name, e)  # OverflowError from Adam's float(step), ...): all mean this
            raise CheckpointError(f"{ckpt.name}'s optimizer state does not fit the model: "
                                  f"{shown(str(e), 200)}") from None
        for group, settings in zip(opt.param_groups, fresh):
            group.update(settings)  # Adam's settings are the recipe's; the file gives its moments
        check_optimizer(opt, ckpt.name)
        _moments_in_layout_of_params(opt)
    return TrainState(ckpt.config, model, opt, dev, [dict(h) for h in ckpt.history])


def _moments_in_layout_of_params(opt: torch.optim.Optimizer) -> None:
    """Give each loaded state tensor of a parameter's shape (Adam's moments) that parameter's strides.
    A checkpoint keeps the layout it was trained in (channels-last on the CPU, plain on a GPU), and
    CUDA's fused Adam refuses a parameter and moments in different layouts."""
    for param, state in opt.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param).copy_(value)


def with_metrics(path: str | Path, metrics: dict) -> Path:
    """Merge `metrics` into a saved checkpoint's model card (atomically)."""
    data = read_payload(path)
    data["metrics"] = {**data.get("metrics", {}), **metrics}
    return save(data, path)
