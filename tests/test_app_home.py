"""AppTest smoke test of the home page: the picker opens on the shipped model, digits show."""
import re

import pytest

PAGE = "0_Home.py"  # the page the `at` fixture opens


def shown(markdown: str) -> str:
    """Markdown as the browser shows it: backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", markdown)


def fields(markdown: str) -> dict:
    """'Label: **value**' lines (ui.words.markdown_fields) as {label: value}, as shown."""
    return dict(shown(line).removesuffix("**").split(": **", 1) for line in markdown.split("  \n")
                if ": **" in line)


def test_home_opens_ready_on_the_shipped_model(at):
    assert not at.error
    picker = at.sidebar.selectbox[0]
    assert picker.value == "reference-d4"  # the app opens ready on the reference model
    assert "denoise-d10" in picker.options and "classifier" not in " ".join(picker.options)
    assert len(at.main.image) == 1 and at.main.image[0].captions == ["25 training digits"]
    labels = at.text[0].value.split("\n")
    assert len(labels) == 5 and all(len(row.split()) == 5 for row in labels)
    card = next(m.value for m in at.sidebar.markdown if m.value.startswith("**Model card**"))
    assert shown(card.split("  \n")[1]).startswith("Validation error (MSE): **0.02")  # the reference's


@pytest.mark.slow  # page runs take seconds
def test_changing_the_seed_draws_other_digits(at):
    before = at.text[0].value
    at.number_input(key="home_seed").set_value(1).run()
    assert not at.exception
    assert at.text[0].value != before


@pytest.mark.slow  # page runs take seconds
def test_switching_model_updates_the_card(at):
    at.sidebar.selectbox[0].set_value("denoise-d10").run()
    assert not at.exception and not at.error
    assert any("d=10" in c.value for c in at.sidebar.caption)


@pytest.mark.slow  # page runs take seconds
def test_the_model_card_speaks_in_labels_and_one_number_format(at):
    """No raw keys (val_mse, kmeans_accuracy, refine_invariant) or JSON: labels a student reads,
    accuracies as percents with one decimal, the settings under the Train form's labels."""
    at.sidebar.selectbox[0].set_value("cluster-d10-refined").run()
    card, settings = (fields(m.value) for m in at.sidebar.markdown if ": **" in m.value)
    rows = card
    assert not [key for key in rows if "_" in key] and len(rows) > 10
    assert rows["Gaussian mixture accuracy (training codes)"] == "97.7%"  # 0.9774583 in the file
    assert re.fullmatch(r"\d+\.\d%", rows["UMAP + Gaussian mixture accuracy (test set)"])
    assert rows["Rebuilds the unjittered digit"] == "yes" and rows["Test PSNR"].endswith(" dB")
    assert settings["Latent size"] == "10" and "latent_dim" not in settings
    assert settings["Noise kind"] == "Gaussian" and settings["Schedule"] == "constant"
    assert not at.get("json")
