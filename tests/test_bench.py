"""The benchmark alternates the two pipelines epoch by epoch and reports their ratio."""
from dae_core import bench


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
