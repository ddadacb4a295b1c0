"""The checkpoint reader under generated hostile content (Hypothesis): whatever a file holds, it
loads into a model whose card every page can show, or it is refused with one line of text; the
file and the folder it sits in are left as they were."""
import dataclasses
import math

import pytest
import torch
from corpus_guard import tree  # noqa: E402  (pytest puts tests/ on the path)
from fuzz_values import (  # noqa: E402
    BASE,
    CONFIG,
    FIELDS,
    HUGE_INTS,
    JUNK,
    NUMBERS,
    TEXTS,
    as_bytes,
    assert_one_line,
    copied,
    fuzz,
    payloads,
    tensors,
)
from hypothesis import given
from hypothesis import strategies as st

from dae_core import checkpoint
from dae_core.checkpoint import CheckpointError, make_payload
from dae_core.classifier import KIND, DigitClassifier, load_classifier
from dae_core.cli import main
from dae_core.config import TrainConfig
from dae_core.errors import ConfigError
from dae_core.records import checked_history, checked_metrics
from dae_core.train import new_state
from ui.svg import history_sparkline
from ui.words import metric_label, metric_value

# A file may hold a sparse tensor (torch warns that it checks it) or complex weights (torch warns
# as it casts them): either file is then refused.
pytestmark = [pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants:UserWarning"),
              pytest.mark.filterwarnings("ignore:Casting complex values to real:UserWarning")]


def _shows(ck) -> None:
    """What the sidebar draws of a loaded checkpoint: its card, its settings and its loss curve."""
    for key, value in ck.metrics.items():
        assert_one_line(f"{metric_label(key)}: {metric_value(key, value)}", limit=10_000)
    assert [f"{v:g}" if isinstance(v, float) else str(v) for v in ck.config.to_dict().values()]
    if ck.history:
        assert history_sparkline(ck.history).startswith("<svg")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread for PyTorch's small ops here: on a busy 2-core machine its thread pool makes
    each isfinite on a tiny tensor take milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder holding a saved run that no load may change."""
    folder = tmp_path_factory.mktemp("fuzz_runs")
    checkpoint.save(BASE, folder / "kept.pt")
    return folder


@pytest.mark.slow  # hundreds of page runs
@fuzz(max_examples=100)
@given(payload=payloads(), name=TEXTS)
def test_any_content_loads_and_shows_or_is_refused_in_one_line(runs, payload, name):
    data = as_bytes(payload)
    path = runs / "fuzzed.pt"
    path.write_bytes(data)
    before = tree(runs)
    outcomes = []
    for load_it in (lambda: checkpoint.load(path), lambda: checkpoint.load_bytes(data, name)):
        try:
            ck = load_it()
        except CheckpointError as e:
            assert_one_line(str(e))
            outcomes.append("refused")
        else:
            _shows(ck)
            outcomes.append("loaded")
    assert outcomes[0] == outcomes[1]  # an upload is checked exactly as a file is
    assert tree(runs) == before


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=150)
@given(payload=JUNK, name=TEXTS)
def test_a_file_of_other_data_is_refused_in_one_line(payload, name):
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_bytes(as_bytes(payload), name)
    assert_one_line(str(e.value))


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=400)
@given(fields=st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXTS, st.integers()),
                              st.one_of(NUMBERS, HUGE_INTS, TEXTS, JUNK), max_size=4))
def test_any_config_is_a_train_config_or_one_config_error(fields):
    try:
        cfg = TrainConfig.from_dict({**CONFIG.to_dict(), **fields})
    except ConfigError as e:
        assert_one_line(str(e))
    else:
        assert all(math.isfinite(float(getattr(cfg, f))) for f in ("lr", "noise_strength", "augment"))


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=300)
@given(metrics=JUNK, history=JUNK)
def test_any_model_card_or_history_is_accepted_as_plain_values_or_refused_in_one_line(metrics, history):
    for check, payload in ((checked_metrics, {"metrics": metrics}), (checked_history, {"history": history})):
        try:
            records = check(payload, "m.pt")
        except CheckpointError as e:
            assert_one_line(str(e))
        else:
            for record in records.values() if isinstance(records, dict) else records:
                assert all(isinstance(v, (bool, str)) or math.isfinite(float(v)) for v in
                           (record.values() if isinstance(record, dict) else [record]))


@pytest.mark.parametrize("part, key", [("config", "lr"), ("config", "seed"), ("metrics", "val_mse"),
                                       ("metrics", "test_psnr")])
@pytest.mark.parametrize("huge", [10**400, -10**400], ids=["1e400", "-1e400"])
def test_evaluate_refuses_a_number_too_large_for_a_float_in_one_line(tmp_path, capsys, part, key, huge):
    payload = copied(BASE)
    payload[part][key] = huge
    path = tmp_path / "huge.pt"
    path.write_bytes(as_bytes(payload))
    assert main(["evaluate", "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err
    assert_one_line(err.strip())
    assert err.startswith("error: huge.pt has a ") and key in err


@pytest.fixture(scope="module")
def trained():
    """A tiny checkpoint after one Adam step (so its optimizer state holds moments), and a batch."""
    state = new_state(CONFIG)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ((state.model(x) - x) ** 2).mean().backward()
    state.optimizer.step()
    return checkpoint.from_payload(checkpoint.to_payload(state)), x


@st.composite
def optimizer_states(draw, saved: dict):
    """A saved Adam state with a group setting, a parameter's state or a whole part replaced."""
    opt = {"state": {k: dict(v) for k, v in saved["state"].items()},
           "param_groups": [dict(g) for g in saved["param_groups"]]}
    part = draw(st.sampled_from(["group", "group", "param", "param", "top", "whole"]))
    if part == "group":
        group = opt["param_groups"][0]
        group[draw(st.sampled_from([*group, "extra"]))] = draw(
            st.one_of(NUMBERS, HUGE_INTS, TEXTS, JUNK, st.tuples(NUMBERS, NUMBERS)))
    elif part == "param":
        param = opt["state"][draw(st.sampled_from(list(opt["state"])))]
        param[draw(st.sampled_from([*param, "extra"]))] = draw(st.one_of(NUMBERS, JUNK, tensors()))
    elif part == "top":
        opt[draw(st.sampled_from(["state", "param_groups"]))] = draw(JUNK)
    else:
        opt = draw(JUNK)
    return opt


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=80)
@given(data=st.data())
def test_resuming_from_any_optimizer_state_trains_or_is_refused_in_one_line(trained, data):
    ckpt, x = trained
    ckpt = dataclasses.replace(ckpt, optimizer_state=data.draw(optimizer_states(ckpt.optimizer_state)))
    try:
        state = checkpoint.to_state(ckpt)
    except CheckpointError as e:
        assert_one_line(str(e))
        return
    state.optimizer.zero_grad()
    ((state.model(x) - x) ** 2).mean().backward()
    state.optimizer.step()  # the step a resumed run takes first
    assert all(torch.isfinite(p).all() for p in state.model.parameters())


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=80)
@given(arch=st.one_of(JUNK, st.fixed_dictionaries({
           "channels": st.lists(st.one_of(NUMBERS, HUGE_INTS), max_size=3),
           "hidden": st.one_of(NUMBERS, HUGE_INTS)})),
       metrics=st.dictionaries(TEXTS, st.one_of(NUMBERS, HUGE_INTS, TEXTS), max_size=2))
def test_any_classifier_file_loads_or_is_refused_in_one_line(runs, arch, metrics):
    payload = make_payload(KIND, DigitClassifier((4, 4), 8), CONFIG, metrics=metrics, arch=arch)
    path = runs / "classifier.pt"
    path.write_bytes(as_bytes(payload))
    try:
        model = load_classifier(path)
    except CheckpointError as e:
        assert_one_line(str(e))
    else:
        assert model.channels == (4, 4) and model.hidden == 8  # only the record its weights fit
