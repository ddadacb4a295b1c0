"""Hand-written CPU kernels for the reference model's narrow layers, built with the C compiler.

oneDNN is tuned for wide layers; on this model's 1- to 32-channel layers it spends more
time on setup and memory passes than on arithmetic, and no rewrite in PyTorch ops closed the
gap (README, "Speed"). `kernels.c` computes those layers directly on channels-last tensors.
It is compiled once per machine and source version (`cc -O3 -march=native -fopenmp`, ~1 s)
into the user's cache directory and loaded with ctypes. Where no compiler is found, or
DAE_NATIVE=0 is set, `library()` is None and every layer runs PyTorch's code instead.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

SOURCE = Path(__file__).with_name("kernels.c")
HEADERS = (Path(__file__).with_name("taps.h"),)  # included by kernels.c
FLAGS = ("-O3", "-march=native", "-fopenmp", "-std=gnu11", "-shared", "-fPIC")

_P, _I, _L, _F = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_float
SIGNATURES = {  # name: (argument types, return type)
    "conv1_forward": ([_P, _P, _P, _P, _I, _I, _I, _I], None),
    "conv1_backward": ([_P, _P, _P, _P, _I, _I, _I, _I], None),
    "upconv1_forward": ([_P, _P, _P, _P, _I, _I, _I, _I], None),
    "upconv1_backward": ([_P, _P, _P, _P, _P, _P, _I, _I, _I, _I], None),
    "bn_forward": ([_P, _P, _P, _P, _P, _P, _P, _L, _I, _F, _I], None),
    "bn_backward": ([_P, _P, _P, _P, _P, _P, _P, _P, _L, _I, _I], None),
}
TAP_CHANNELS = ((16, 8), (32, 16))  # (small grid, big grid) channels: kernels.c's taps.h instances
for _cs, _cb in TAP_CHANNELS:
    SIGNATURES[f"up_{_cs}_{_cb}"] = SIGNATURES[f"down_{_cs}_{_cb}"] = ([_P, _P, _P, _P] + [_I] * 7, None)
    SIGNATURES[f"wgrad_{_cs}_{_cb}"] = ([_P, _P, _P] + [_I] * 7, _I)

_lock = threading.Lock()
_state: dict = {}  # "lib" and "reason" once loading was tried


def cache_dir() -> Path:
    """Where compiled kernels are kept: $DAE_CACHE_DIR, else $XDG_CACHE_HOME/dae_lab, else ~/.cache."""
    if os.environ.get("DAE_CACHE_DIR"):
        return Path(os.environ["DAE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dae_lab"


def _cpu_id() -> str:
    """-march=native code runs only where it was built: the CPU's model and flags go in the key."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return "".join(line for line in lines if line.startswith(("model name", "flags")))[:4096]


def _build(compiler: str) -> Path:
    sources = [f.read_text() for f in (SOURCE, *HEADERS)]
    key = hashlib.sha256("\0".join([*sources, compiler, *FLAGS, _cpu_id()]).encode()).hexdigest()
    target = cache_dir() / f"kernels-{key[:16]}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            done = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", tmp], capture_output=True,
                                  text=True, timeout=120)
            if done.returncode != 0:
                raise OSError(f"{compiler} failed: {(done.stderr.strip().splitlines() or ['?'])[0]}")
            os.replace(tmp, target)  # atomic: a concurrent build never leaves half a library
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def _load() -> None:
    if os.environ.get("DAE_NATIVE", "1") == "0":
        _state.update(lib=None, reason="turned off by DAE_NATIVE=0")
        return
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        _state.update(lib=None, reason="no C compiler (cc or gcc) on PATH")
        return
    try:
        path = _build(compiler)
        lib = ctypes.CDLL(str(path))
        for name, (args, ret) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, ret
    except (OSError, subprocess.SubprocessError, AttributeError) as e:
        _state.update(lib=None, reason=f"could not build the kernels: {e}")
        return
    _state.update(lib=lib, reason=str(path))


def library() -> ctypes.CDLL | None:
    """The loaded kernels, built on first call; None where they cannot be (see `status`)."""
    if "lib" not in _state:
        with _lock:
            if "lib" not in _state:
                _load()
    return _state["lib"]


def status() -> str:
    """One line: the kernels' file, or why PyTorch's layers run instead."""
    lib = library()
    return f"native kernels: {_state['reason']}" if lib else f"PyTorch layers only: {_state['reason']}"
