"""The benchmark alternates the two pipelines epoch by epoch and reports their ratio."""
import pytest

from dae_core import bench, native
from dae_core.config import TrainConfig
from dae_core.errors import DaeError

needs_native = pytest.mark.skipif(native.library() is None, reason=native.status())


def test_pipelines_take_turns_and_the_ratio_is_of_medians(monkeypatch):
    log = []

    def fake(name, seconds):
        def epochs(n, device="cpu"):
            for s in seconds[:n]:
                log.append(name)
                yield s
        return epochs

    monkeypatch.setattr(bench, "engine_epochs", fake("ours", [1.0, 3.0, 2.0]))
    monkeypatch.setattr(bench, "reference_epochs", fake("reference", [4.0, 4.0, 8.0]))
    monkeypatch.setattr(bench, "cluster_seconds", lambda path=None: {})
    out = bench.run_all(3)
    assert log == ["ours", "reference"] * 3
    assert out["ours_epoch_s"] == 2.0 and out["reference_epoch_s"] == 4.0
    assert out["ratio"] == 0.5
    assert out["ratios_per_epoch"] == [0.25, 0.75, 0.25]
    assert out["kernels"] == native.status()  # which layers ran: the native kernels or PyTorch's


def _calls_per_step(r):
    by_op = {}
    for op in r["ops"]:
        by_op[op["op"]] = by_op.get(op["op"], 0) + op["calls_per_step"]
    return by_op


def test_op_times_sees_the_training_steps_convolutions(monkeypatch):
    monkeypatch.setattr(native, "library", lambda: None)  # PyTorch's layers only
    r = bench.op_times(batches=3, warmup=1, config=TrainConfig(train_subset=2048, batch_size=64))
    by_op = _calls_per_step(r)
    # six convolution layers forward and backward, one fused Adam step, per training step
    assert by_op["convolution.default"] == 6 and by_op["convolution_backward.default"] == 6
    assert by_op["_fused_adam_.default"] == 1
    assert not any(name.startswith("dae_core.native.") for name in by_op)


@needs_native
def test_op_times_sees_the_native_kernels_in_place_of_the_convolutions():
    r = bench.op_times(batches=3, warmup=1, config=TrainConfig(train_subset=2048, batch_size=64))
    by_op = _calls_per_step(r)
    assert "convolution.default" not in by_op and "convolution_backward.default" not in by_op
    # each layer forward and backward: conv1, the 16/8 and 32/16 pairs both ways, the output layer, 3 BatchNorms
    assert {name.removeprefix("dae_core.native."): n for name, n in by_op.items()
            if name.startswith("dae_core.native.")} == {
        "conv1_forward": 1, "conv1_backward": 1, "upconv1_forward": 1,
        "upconv1_backward": 1, "bn_forward": 3, "bn_backward": 3,
        **{f"{kind}_{pair}": 2 for kind in ("up", "down", "wgrad") for pair in ("16_8", "32_16")}}
    assert 0 < r["ops_ms_per_step"] <= r["wall_ms_per_step"]
    assert [op["ms_per_step"] for op in r["ops"]] == sorted((op["ms_per_step"] for op in r["ops"]), reverse=True)


def test_op_times_refuses_more_steps_than_one_epoch_holds():
    with pytest.raises(DaeError, match="fit in one epoch"):
        bench.op_times(batches=30, warmup=0, config=TrainConfig(train_subset=2048, batch_size=64))
