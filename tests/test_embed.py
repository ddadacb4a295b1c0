"""dae_core.analysis.embed: 2-D maps, pixel baselines, the cluster table and (digit, cluster) cells."""
import numpy as np
import pytest

from dae_core.analysis import embed
from dae_core.analysis.cluster import score
from dae_core.data import load_digits
from dae_core.errors import DaeError


@pytest.fixture
def blobs():
    """Three well-separated Gaussian blobs in 5-d: codes (150, 5) and labels (150,)."""
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0, 0, 0], [8, 0, 0, 0, 0], [0, 8, 0, 0, 0]], np.float32)
    y = np.repeat(np.arange(3), 50)
    return centers[y] + rng.normal(size=(150, 5)).astype(np.float32), y


def test_pca_2d_shape_and_dtype(blobs):
    z, _ = blobs
    xy = embed.pca_2d(z)
    assert xy.shape == (150, 2) and xy.dtype == np.float32
    assert xy[:, 0].var() >= xy[:, 1].var()  # components come in order of variance


def test_pca_2d_rejects_1d_codes():
    with pytest.raises(DaeError):
        embed.pca_2d(np.zeros((10, 1)))


@pytest.mark.slow  # takes seconds
def test_tsne_2d_subsamples_and_is_deterministic(blobs):
    z, _ = blobs
    idx, xy = embed.tsne_2d(z, n=60, seed=3)
    assert idx.shape == (60,) and xy.shape == (60, 2)
    assert len(np.unique(idx)) == 60 and np.all(np.diff(idx) > 0) and idx.max() < len(z)
    idx2, xy2 = embed.tsne_2d(z, n=60, seed=3)
    np.testing.assert_array_equal(idx, idx2)
    np.testing.assert_allclose(xy, xy2)
    idx3, _ = embed.tsne_2d(z, n=60, seed=4)
    assert not np.array_equal(idx, idx3)


def test_tsne_2d_caps_n_at_the_number_of_points(blobs):
    z, _ = blobs
    idx, xy = embed.tsne_2d(z[:20], n=2000, seed=0)
    np.testing.assert_array_equal(idx, np.arange(20))
    assert xy.shape == (20, 2)


@pytest.mark.slow  # takes seconds
def test_pixel_baseline_on_a_small_mnist_subset():
    digits = load_digits("mnist")
    images, y = digits.train_images[:600].numpy(), digits.train_labels[:600].numpy()
    raw = embed.pixel_baseline(images, k=10, seed=0)
    pca = embed.pixel_baseline(images, k=10, seed=0, pca_dims=20)
    for labels in (raw, pca):
        assert labels.shape == (600,) and set(np.unique(labels)) <= set(range(10))
        assert score(y, labels).accuracy > 0.3  # well above chance (0.1), as pixels are
    np.testing.assert_array_equal(raw, embed.pixel_baseline(images, k=10, seed=0))


def test_cluster_table_sizes_and_purity_add_up():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    pred = np.where(rng.random(400) < 0.8, (y + 1) % 4, rng.integers(0, 5, 400))  # 5 clusters
    report = score(y, pred)
    rows = embed.cluster_table(report)
    assert [r["cluster"] for r in rows] == report.clusters.tolist()
    assert sum(r["size"] for r in rows) == 400
    assert sum(r["size"] * r["matched"] for r in rows) / 400 == pytest.approx(report.accuracy)
    assert all(0 <= r["matched"] <= r["purity"] <= 1 and r["digit"] == report.mapping[r["cluster"]]
               for r in rows)


def test_cluster_table_on_a_perfect_permuted_clustering():
    y = np.array([0, 0, 1, 1, 1, 2])
    rows = embed.cluster_table(score(y, np.array([5, 5, 3, 3, 3, 7])))
    assert rows == [{"cluster": 3, "digit": 1, "size": 3, "matched": 1.0, "majority": 1, "purity": 1.0},
                    {"cluster": 5, "digit": 0, "size": 2, "matched": 1.0, "majority": 0, "purity": 1.0},
                    {"cluster": 7, "digit": 2, "size": 1, "matched": 1.0, "majority": 2, "purity": 1.0}]


def test_purity_is_the_share_of_the_most_common_digit_even_when_matched_elsewhere():
    """Two clusters of sevens: the one-to-one matching gives 7 to the larger one and 1 to the
    other, whose purity is still its share of sevens (0.9), not its share of ones (0.1)."""
    y = np.array([7] * 10 + [9] + [7] * 9 + [1] + [4] * 5)
    pred = np.array([0] * 11 + [1] * 10 + [2] * 5)
    rows = {r["cluster"]: r for r in embed.cluster_table(score(y, pred))}
    assert rows[1]["digit"] == 1 and rows[1]["matched"] == pytest.approx(0.1)
    assert rows[1]["majority"] == 7 and rows[1]["purity"] == pytest.approx(0.9)


def test_cell_indices_on_a_hand_made_case():
    y = np.array([1, 1, 2, 1, 2, 0])
    labels = np.array([0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(embed.cell_indices(y, labels, digit=1, cluster=0), [0, 3])
    np.testing.assert_array_equal(embed.cell_indices(y, labels, digit=2, cluster=0), [2, 4])
    assert embed.cell_indices(y, labels, digit=0, cluster=0).size == 0


def test_clusters_by_count_puts_the_fullest_cluster_first():
    y = np.array([1, 1, 2, 1, 2, 0])
    labels = np.array([0, 1, 0, 0, 0, 1])
    assert embed.clusters_by_count(score(y, labels), 1) == [(0, 2), (1, 1)]
    assert embed.clusters_by_count(score(y, labels), 0) == [(1, 1), (0, 0)]


def test_umap_2d_needs_more_points_than_neighbours(blobs):
    with pytest.raises(DaeError, match="more than 15 points"):
        embed.umap_2d(blobs[0][:15])


@pytest.mark.slow  # takes seconds
def test_umap_2d_shape_and_determinism(blobs):
    pytest.importorskip("umap")
    z, _ = blobs
    xy = embed.umap_2d(z, seed=0)
    assert xy.shape == (150, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    np.testing.assert_array_equal(xy, embed.umap_2d(z, seed=0))
