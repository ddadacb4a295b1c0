"""The visitors of bench_load.py and what is recorded of them: each session's role (trainer, UMAP
asker, uploader, browser), the random settings and widget changes of its visit to each page, the
fits a page asked, every run's seconds and status (a run that asked a new fit, or waited on one,
counted apart), and the one session that walks many distinct settings.
"""
from __future__ import annotations

import asyncio
import json
import math
import random
import time

import numpy as np

from dae_core import checkpoint, store
from dae_core.analysis.cluster import METHODS
from dae_core.analysis.latent import SAMPLERS
from dae_core.paths import ROOT
from dae_core.store.disk import SHIPPED_DIR
from dae_harness.wsclient import Tab, query
from ui.words import METHODS as METHOD_WORDS
from ui.words import NOISES
from ui.words import SAMPLERS as SAMPLER_WORDS

from load_probe import Probe

MODELS = sorted(p.stem for p in (ROOT / "checkpoints").glob("*.pt"))
PAGES = ("Train", "Denoise", "Generate", "Cluster")  # after Home, in a random order
UPLOAD_NAME = "class-model.pt"  # a shipped model's bytes under another name
UMAP_MODEL = "cluster-d10-refined"  # the fit ten sessions ask at once (its seed: unshipped)
UMAP = {"method": "umap-gmm", "k": 10}


def page_settings(page: str, rng: random.Random, umap_share: float) -> dict:
    """Random URL settings of a page, from small ranges, so that sessions meet on some."""
    if page == "Cluster":
        umap = rng.random() < umap_share
        method = rng.choice([m for m in METHODS if m.startswith("umap") == umap])
        return {"k": rng.randint(8, 12), "method": method, "cluster_seed": rng.randint(0, 3)}
    if page == "Generate":
        sampler = rng.choice(SAMPLERS)
        return {"sampler": sampler, "component": rng.randint(0, 9) if sampler == "cluster:K" else None,
                "sample_seed": rng.randint(0, 50)}
    if page == "Denoise":
        noise = rng.choice(("gaussian", "salt_pepper", "mask"))
        return {"noise": noise, "strength": rng.choice((0.1, 0.2, 0.3, 0.5)),
                "noise_seed": rng.randint(0, 3)}
    return {}


def widget_change(page: str, rng: random.Random) -> tuple[str, object] | None:
    """(key, value) of one widget change a visitor makes on `page`."""
    return {"": ("home_seed", rng.randint(0, 500)), "Train": ("train_log_y", rng.random() < 0.5),
            "Denoise": ("noise_seed", rng.randint(0, 3)),
            "Generate": ("sample_seed", rng.randint(0, 50)),
            "Cluster": ("k", rng.randint(8, 12))}[page]


SHOWN = {"Cluster": ("k", "method", "cluster_seed"), "Generate": ("sampler", "component"),
         "Denoise": ("noise", "noise_seed")}  # the settings that choose a page's fits
# A choice shown in words holds its words in the browser: back to the name a fit is keyed by.
NAMES = {key: {said: name for name, said in words.items()}
         for key, words in {"method": METHOD_WORDS, "sampler": SAMPLER_WORDS, "noise": NOISES}.items()}


def asked(tab: Tab, page: str, uploaded: dict) -> set:
    """What the page just drawn asked that may need a fit (kept in memory or on disk after),
    from the values its widgets show; an uploaded model counts as the shipped one it copies."""
    if page not in SHOWN or "model" not in tab.widgets:
        return set()
    model = uploaded.get(tab.value("model"), tab.value("model"))
    s = {key: NAMES.get(key, {}).get(tab.value(key), tab.value(key)) for key in SHOWN[page]
         if key in tab.widgets}
    if page == "Cluster":
        return {("clustering", model, s.get("method"), s.get("k"), s.get("cluster_seed"))}
    if page == "Generate":
        sampler = s.get("sampler")
        return {("sampler", model, f"cluster:{s.get('component')}" if sampler == "cluster:K" else sampler)}
    return {("noise_sweep", model, s.get("noise"), s.get("noise_seed"))}


class Record:
    """Every measured run, and the fits asked so far. A run is a fit when it asked a fit that was
    new, or that another session had asked and was still computing when this run started (it
    waits on that fit): only runs that found every fit they asked done count as page runs."""

    def __init__(self, shipped: set) -> None:
        self.done_at = dict.fromkeys(shipped, -math.inf)  # fit -> when its first asker's run ended
        self.runs: list[tuple[str, float, str]] = []  # (page / widget / fit / distinct, s, status)
        self.where: list[str] = []  # each run's page and what it did, for the slowest list
        self.waits: dict[str, list] = {"umap": [], "train": []}  # seconds, None past the limit
        self.errors: list[str] = []
        self.uploaded: dict[str, str] = {}  # an uploaded model's name -> the shipped one it copies

    def add(self, kind: str, run, fits: set = frozenset(), what: str = "") -> None:
        now = time.perf_counter()
        started = now - run.seconds
        pending = any(self.done_at.get(f, math.inf) > started for f in fits)
        for f in fits:
            self.done_at.setdefault(f, now)
        self.runs.append(("fit" if pending and kind != "distinct" else kind, run.seconds, run.status))
        self.where.append(what)


async def pause(rng, think: float) -> None:
    """A reader's pause before the next action: uniformly 0.5-1.5 x `think` seconds (0: none)."""
    if think > 0:
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


async def visit(tab: Tab, rec: Record, page: str, link: str, rng, changes: int, think: float = 0.0) -> None:
    """Open `page` by the link `link` (the first page) or the menu, then change `changes` widgets,
    pausing `think` seconds (on average) before each action."""
    await pause(rng, think)
    run = await (tab.goto(page, link) if tab.pages else tab.open(page, link))
    rec.add("page", run, asked(tab, page, rec.uploaded), f"{page or 'home'} {link}")
    for _ in range(changes):
        key, value = widget_change(page, rng)
        if key in tab.widgets:
            await pause(rng, think)
            rec.add("widget", await tab.set(key, value), asked(tab, page, rec.uploaded),
                    f"{page or 'home'} {key}={value}")


async def session(i: int, role: str, url: str, rec: Record, args, umap_seed: int) -> None:
    """One visitor: every page once, in a random order (a UMAP asker first opens the link to the
    UMAP clustering and waits for it; a trainer starts a short run and waits for its end)."""
    rng = random.Random(args.seed * 1000 + i)
    await asyncio.sleep(rng.uniform(0, args.stagger))  # a class does not click at one instant
    tab, model = Tab(url, timeout=args.run_timeout), rng.choice(MODELS)
    pages = rng.sample(("",) + PAGES, len(PAGES) + 1)
    if role == "umap":
        pages.remove("Cluster")
        pages.insert(0, "Cluster")
    upload = role == "upload"
    try:
        for page in pages:
            s = page_settings(page, rng, args.umap_share)
            if role == "umap" and page == "Cluster":
                await visit(tab, rec, page, query(model=UMAP_MODEL, **UMAP, cluster_seed=umap_seed),
                            rng, 0)
                rec.waits["umap"].append(await tab.settle(args.fit_timeout))
                continue
            await visit(tab, rec, page, query(model=model, **s), rng, args.changes, args.think)
            if upload:  # once, on the first page: the picker then shows the uploaded model
                data = (ROOT / "checkpoints" / f"{model}.pt").read_bytes()
                rec.add("widget", await tab.upload("checkpoint_upload", UPLOAD_NAME, data),
                        what=f"{page or 'home'} upload of {model}")
                rec.uploaded[tab.value("model")], upload = model, False
            if role == "train" and page == "Train":
                rec.add("widget", await tab.click("train_start", train_epochs=args.train_epochs,
                                                  train_train_subset=args.train_subset))
                waited = await tab.settle(args.fit_timeout)
                ended = any(t.startswith("Finished:") for t in tab.texts())
                rec.waits["train"].append(waited if ended else None)
                if not ended:
                    rec.errors.append(f"session {i}: the training run did not finish: "
                                      + " | ".join(t[:120] for t in tab.texts()[-4:]))
    except Exception as e:  # noqa: BLE001  one session's failure is counted, the class goes on
        rec.errors.append(f"session {i} ({role}): {type(e).__name__}: {e}")
    finally:
        await tab.close()


async def walk(url: str, rec: Record, probe: Probe, n: int, args) -> dict:
    """One session through n distinct (k, seed) k-means clusterings, each waited for until its
    scores show: the server's memory and the disk cache as it goes."""
    tab = Tab(url, timeout=args.run_timeout)
    rss, waits = [], []
    try:
        await tab.open("Cluster", query(model="reference-d4", method="kmeans"))
        for j in range(n):
            rec.add("distinct", await tab.set("k", 2 + j % 29, cluster_seed=1000 + j // 29))
            waits.append(await tab.settle(args.fit_timeout))
            probe.sample()
            rss.append(probe.server_rss_mb())
    except Exception as e:  # noqa: BLE001
        rec.errors.append(f"distinct walk: {type(e).__name__}: {e}")
    finally:
        await tab.close()
    quarter = max(1, len(rss) // 4)
    done = [w for w in waits if w is not None]
    return {"settings": len(rss), "result_p50_s": quantile(done, 0.5),
            "results_past_limit": len(waits) - len(done),
            "rss_first_quarter_mb": round(max(rss[:quarter], default=0), 1),
            "rss_last_quarter_mb": round(max(rss[-quarter:], default=0), 1),
            "rss_max_mb": round(max(rss, default=0), 1), "cache_mb": round(probe.cache_mb(), 1)}


def shipped_clusterings(names) -> set:
    """The clusterings the shipped cache holds, as fits_of keys."""
    prints = {}
    for name in names:
        ck = checkpoint.load(ROOT / "checkpoints" / f"{name}.pt", device="cpu")
        prints[store.fingerprint(ck.model, ck.config)] = name
    found = set()
    for path in SHIPPED_DIR.glob("clustering-*.npz"):
        with np.load(path, allow_pickle=False) as f:
            key = json.loads(str(f["key"]))
        if key.get("model") in prints:
            found.add(("clustering", prints[key["model"]], key["method"], key["k"], key["seed"]))
    return found


def roles(n: int) -> list[str]:
    """4 trainers and 10 UMAP askers in 30, in proportion (at least one each) for fewer."""
    trainers = 4 if n >= 30 else max(1, n * 4 // 30)
    umap = 10 if n >= 30 else max(1, n * 10 // 30)
    rest = ["upload"] + ["browse"] * n
    return (["train"] * trainers + ["umap"] * umap + rest)[:n]


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile by the nearest-rank method (None for no values)."""
    values = sorted(values)
    return round(values[max(0, math.ceil(q * len(values)) - 1)], 3) if values else None
