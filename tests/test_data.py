"""Bundled MNIST offline, IDX integrity checks, the split, and the three noise kinds."""
import gzip
from dataclasses import replace

import numpy as np
import pytest
import torch

import dae_core.data as data
from dae_core.config import TrainConfig
from dae_core.data import DataError, add_noise, load_digits, read_idx, split_indices, to_float, to_unit, training_split
from dae_core.settings import settings

LABELS = "t10k-labels-idx1-ubyte"


def test_bundled_mnist_loads_offline():
    d = load_digits("mnist")
    assert d.train_images.shape == (60_000, 28, 28) and d.test_images.shape == (10_000, 28, 28)
    assert d.train_images.dtype == torch.uint8 and d.test_images.dtype == torch.uint8
    assert d.train_labels.shape == (60_000,) and d.test_labels.shape == (10_000,)
    for labels in (d.train_labels, d.test_labels):
        assert labels.dtype == torch.int64
        assert sorted(labels.unique().tolist()) == list(range(10))
    assert d.train_images.max() > 200  # real ink, not an empty array


def _raw_labels() -> bytes:
    return gzip.decompress((settings().data_dir / "MNIST" / "raw" / f"{LABELS}.gz").read_bytes())


def test_read_idx_accepts_the_genuine_file(tmp_path):
    path = tmp_path / LABELS
    path.write_bytes(_raw_labels())
    labels = read_idx(path, data.MNIST_MD5[LABELS])
    assert labels.shape == (10_000,) and labels.max() == 9


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_a_corrupted_file(tmp_path, gz):
    raw = bytearray(_raw_labels())
    raw[100] ^= 0xFF
    path = tmp_path / (LABELS + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    with pytest.raises(DataError, match="MD5"):
        read_idx(path, data.MNIST_MD5[LABELS])


def test_read_idx_rejects_a_truncated_file(tmp_path):
    path = tmp_path / "short-idx1-ubyte"
    path.write_bytes(_raw_labels()[:5000])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)
    with pytest.raises(DataError, match="MD5"):
        read_idx(path, data.MNIST_MD5[LABELS])


def test_read_idx_rejects_a_truncated_gzip_and_a_bad_magic(tmp_path):
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(_raw_labels())[:1000])
    with pytest.raises(DataError):
        read_idx(gz)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x00\x0d\x01" + bytes(20))
    with pytest.raises(DataError, match="IDX"):
        read_idx(junk)


def test_offline_download_failure_is_a_helpful_data_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(tvd, "FashionMNIST", offline)
    with pytest.raises(DataError) as e:
        load_digits("fashion_mnist", root=tmp_path)
    message = str(e.value)
    assert "FashionMNIST" in message and "internet" in message
    assert str(tmp_path / "FashionMNIST" / "raw") in message


def test_unknown_dataset_is_refused():
    with pytest.raises(DataError, match="unknown dataset"):
        load_digits("cifar10")


def test_split_sizes_disjoint_and_complete():
    s = split_indices(60_000, 0.2, seed=0)
    assert len(s.train) == 48_000 and len(s.val) == 12_000
    both = torch.cat([s.train, s.val])
    assert torch.equal(both.sort().values, torch.arange(60_000))


def test_split_is_deterministic_per_seed():
    a, b, c = (split_indices(1000, 0.2, seed) for seed in (0, 0, 1))
    assert torch.equal(a.val, b.val) and torch.equal(a.train, b.train)
    assert not torch.equal(a.val, c.val)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_split_refuses_an_empty_side(fraction):
    with pytest.raises(DataError):
        split_indices(100, fraction, 0)


def test_training_split_is_the_configs_split_of_its_subset():
    cfg = TrainConfig(train_subset=1000, val_fraction=0.25, seed=3)
    split, digits = training_split(cfg), load_digits("mnist")
    assert len(split.train_images) == 750 and len(split.val_images) == 250
    assert set(split.train_index.tolist()).isdisjoint(split.val_index.tolist())
    assert max(split.train_index.max(), split.val_index.max()) < 1000
    assert torch.equal(split.val_images, digits.train_images[split.val_index])
    assert torch.equal(split.train_labels, digits.train_labels[split.train_index])
    assert not torch.equal(training_split(replace(cfg, seed=4)).val_index, split.val_index)


def test_to_float_accepts_uint8_float_arrays_tensors_and_single_images():
    images = load_digits("mnist").test_images[:8]
    x = to_float(images)
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert torch.equal(x, images.unsqueeze(1).float() / 255)
    assert torch.equal(to_float(x[:, 0].numpy()), x)  # floats stay as they are
    assert torch.equal(to_float(x), x)
    assert to_float(x[0, 0].numpy()).shape == (1, 1, 28, 28)
    with pytest.raises(DataError):
        to_float(np.zeros(784))


def test_to_unit_scales_uint8_only_and_keeps_the_shape():
    np.testing.assert_allclose(to_unit(np.array([[0, 255]], np.uint8)), [[0.0, 1.0]])
    np.testing.assert_allclose(to_unit(np.array([0.5])), [0.5])
    assert to_unit(np.zeros((2, 3, 4), np.uint8)).shape == (2, 3, 4)


KINDS = ["gaussian", "salt_pepper", "mask"]


@pytest.fixture
def x():
    return torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(123))


def _noisy(x, kind, strength, seed):
    return add_noise(x, kind, strength, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", KINDS)
def test_noise_range_shape_and_seeding(x, kind):
    a, b, c = (_noisy(x, kind, 0.4, seed) for seed in (1, 1, 2))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_strength_leaves_the_image_unchanged(x, kind):
    assert torch.equal(_noisy(x, kind, 0.0, 0), x)


def test_noise_does_not_change_its_input(x):
    before = x.clone()
    for kind in KINDS:
        _noisy(x, kind, 0.5, 0)
    assert torch.equal(x, before)


def test_mask_only_zeroes_pixels(x):
    y = _noisy(x, "mask", 0.3, 0)
    changed = y != x
    assert changed.any()
    assert (y[changed] == 0).all()
    assert abs(changed.float().mean().item() - 0.3) < 0.02


def test_salt_pepper_changes_about_strength_share(x):
    x = torch.full((64, 1, 28, 28), 0.5)  # every flip to 0 or 1 is visible
    y = _noisy(x, "salt_pepper", 0.2, 0)
    changed = y != x
    assert abs(changed.float().mean().item() - 0.2) < 0.01  # 50k pixels: sd of the share ~0.002
    assert set(y[changed].unique().tolist()) == {0.0, 1.0}
    salt = (y[changed] == 1).float().mean().item()
    assert abs(salt - 0.5) < 0.03


def test_gaussian_noise_has_the_requested_sigma():
    x = torch.full((64, 1, 28, 28), 0.5)
    y = _noisy(x, "gaussian", 0.1, 0)  # clamping is negligible at 5 sigma
    assert abs((y - x).std().item() - 0.1) < 0.005
    assert abs((y - x).mean().item()) < 0.005


def test_unknown_noise_kind(x):
    with pytest.raises(DataError, match="foo"):
        add_noise(x, "foo", 0.1)
