"""AppTest smoke test of the home page: the picker opens on the shipped model, digits show."""
PAGE = "0_Home.py"  # the page the `at` fixture opens


def test_home_opens_ready_on_the_shipped_model(at):
    assert not at.error
    picker = at.sidebar.selectbox[0]
    assert picker.value == "reference-d4"  # the app opens ready on the reference model
    assert "denoise-d10" in picker.options and "classifier" not in " ".join(picker.options)
    assert len(at.image) == 1 and at.image[0].captions == ["25 training digits"]
    labels = at.text[0].value.split("\n")
    assert len(labels) == 5 and all(len(row.split()) == 5 for row in labels)
    card = next(m.value for m in at.sidebar.markdown if m.value.startswith("| metric | value |"))
    assert card.splitlines()[2].startswith("| val_mse | 0.02")  # the reference model's val MSE


def test_changing_the_seed_draws_other_digits(at):
    before = at.text[0].value
    at.number_input(key="home_seed").set_value(1).run()
    assert not at.exception
    assert at.text[0].value != before


def test_switching_model_updates_the_card(at):
    at.sidebar.selectbox[0].set_value("denoise-d10").run()
    assert not at.exception and not at.error
    assert any("d=10" in c.value for c in at.sidebar.caption)
