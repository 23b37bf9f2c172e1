"""The training command end to end on a small subset: train, export, evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.images import FIXTURES

pytest.importorskip("tensorflow")


def test_training_command_trains_exports_and_reports(tmp_path, capsys):
    from training import evaluate, train

    out = tmp_path / "models"
    code = train.main(["--data", str(FIXTURES / "mnist_small"), "--out", str(out), "--epochs", "5",
                       "--limit", "1000", "--batch-size", "32"])
    assert code == 0
    for name in ("digitscan.keras", "digitscan.json", "digitscan_float.tflite", "digitscan_int8.tflite",
                 "manifest.json", "MODEL_CARD.md", "train.log", "training.json"):
        assert (out / name).is_file(), name
    log = (out / "train.log").read_text()
    assert "epoch   1/5" in log and "epoch   5/5" in log
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"][10] == "not a digit"
    assert "sha256" in manifest["files"]["digitscan_int8.tflite"]
    # Five short epochs on 900 digits already read far better than chance (1 in 11).
    assert manifest["files"]["digitscan.keras"]["mnist_test_accuracy"] > 0.3
    json.loads((out / "digitscan.json").read_text())

    capsys.readouterr()
    assert evaluate.main(["--model", str(out / "digitscan_int8.tflite"), "--data", str(FIXTURES / "mnist_small")]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "per class" in printed and "not-a-digit" in printed


def test_validation_split_is_stratified_and_disjoint():
    from training.data import load_split, split_validation

    x, y = load_split(FIXTURES / "mnist_small", "train")
    (xt, yt), (xv, yv) = split_validation(x, y, 0.1, seed=1)
    assert len(xt) + len(xv) == len(x)
    assert abs(len(xv) - 100) <= 10
    assert set(np.unique(yv)) == set(range(10))
    seen = {a.tobytes() for a in xt}
    assert not any(a.tobytes() in seen for a in xv)


def _band(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The ink (> 100) in a band of a digit's rows, from `lo` to `hi` of its height."""
    ink = img > 100
    rows = np.flatnonzero(ink.any(axis=1))
    top, bottom = rows[0], rows[-1]
    return ink[int(top + lo * (bottom - top)) : int(top + hi * (bottom - top)) + 1]


def _widest_row(img: np.ndarray, lo: float, hi: float) -> int:
    return max(int(np.ptp(np.flatnonzero(r))) + 1 for r in _band(img, lo, hi) if r.any())


def _flag_reach(img: np.ndarray) -> int:
    """How far left of the top of the digit its ink reaches in the top third of its rows."""
    band = _band(img, 0.0, 0.33)
    top = float(np.flatnonzero(band[0]).mean())
    return int(round(top - np.flatnonzero(band.any(axis=0))[0]))


def test_continental_sevens_are_crossed_and_ones_flagged():
    from training.data import load_split
    from training.styles import continental

    x, y = load_split(FIXTURES / "mnist_small", "train")
    rng = np.random.default_rng(0)
    sevens, ones = x[y == 7][:30], x[y == 1][:30]
    crossed = [continental(d, 7, rng) for d in sevens]
    flagged = [continental(d, 1, rng, "flag") for d in ones]
    footed = [continental(d, 1, rng, "flag and foot") for d in ones]
    for made in (crossed, flagged, footed):
        for d in made:
            assert d.shape == (28, 28) and d.dtype == np.uint8
            # Still MNIST's form: fitted in 20x20 (its longer side 20), centred by its centre of
            # mass in 28x28.
            rows, cols = np.nonzero(d)
            assert max(np.ptp(rows), np.ptp(cols)) + 1 == 20
            mass = d.astype(np.float64)
            centre = [(mass.sum(axis=1 - k) * np.arange(28)).sum() / mass.sum() for k in (0, 1)]
            assert np.allclose(centre, 13.5, atol=0.6), centre

    # The strokes keep within the digit's rows: a styled digit is fitted at its own size (a flag
    # whose round end stuck out above the 1 had it fitted 9% smaller, a shortcut to learn).
    def ink_height(d):
        rows = np.flatnonzero((d > 100).any(axis=1))
        return rows[-1] - rows[0] + 1

    for made, plain in ((crossed, sevens), (flagged, ones), (footed, ones)):
        assert np.median([ink_height(b) - ink_height(a) for a, b in zip(plain, made)]) == 0

    def median(f, made, plain):
        return np.median([f(b) - f(a) for a, b in zip(plain, made)])

    # A bar across the middle of the 7's stem: the widest row there is far wider.
    assert median(lambda d: _widest_row(d, 0.4, 0.72), crossed, sevens) >= 4
    # A flag out to the left of the 1's top (a flag drawn to the right would not reach left).
    plain_reach, flag_reach = np.array([_flag_reach(d) for d in ones]), np.array([_flag_reach(d) for d in flagged])
    assert np.median(flag_reach) >= np.median(plain_reach) + 2 and np.mean(flag_reach > plain_reach) >= 0.75
    # A foot under it: the bottom rows are far wider.
    assert median(lambda d: _widest_row(d, 0.9, 1.0), footed, ones) >= 4
    # Other digits are written as they were.
    three = x[y == 3][0]
    assert continental(three, 3, rng) is three


def test_training_writes_ones_and_sevens_the_continental_way_when_asked(tmp_path, monkeypatch):
    """--style-share restyles that share of the training 1s and 7s, each with its own label, never
    a crop cut from a page; at 0 the batches' random draws are those of a run without it."""
    from training import train
    from training.data import load_split

    x, y = load_split(FIXTURES / "mnist_small", "train")
    label_of = {img.tobytes(): int(lab) for img, lab in zip(x, y)}
    rng = np.random.default_rng(0)
    crops = tmp_path / "crops.npz"
    crop_images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    np.savez_compressed(crops, images=crop_images, labels=np.array([1, 7] * 15, np.uint8))
    cut = {img.tobytes() for img in crop_images}

    styled = []
    real = train.continental
    monkeypatch.setattr(train, "continental",
                        lambda img, label, rng: styled.append((img.tobytes(), label)) or real(img, label, rng))
    states = []
    augment = train.augment_batch
    monkeypatch.setattr(train, "augment_batch",
                        lambda images, rng, *a: states.append(rng.bit_generator.state["state"]) or augment(images, rng, *a))
    seed = train.parse_args([]).seed  # the batches' generators: default_rng([seed, epoch, batch])
    fresh = {np.random.default_rng([seed, epoch, i]).bit_generator.state["state"]["state"]
             for epoch in (0, 1) for i in range(100)}
    for share in (0.0, 0.5):
        out = tmp_path / str(share)
        states.clear()
        assert train.main(["--data", str(FIXTURES / "mnist_small"), "--out", str(out), "--epochs", "1",
                           "--limit", "300", "--batch-size", "32", "--style-share", str(share),
                           "--page-crops", str(crops), "--no-export"]) == 0
        assert json.loads((out / "training.json").read_text())["stages"][-1]["style_share"] == share
        drawn = [s["state"] not in fresh for s in states]
        if share == 0.0:
            assert styled == [] and states and not any(drawn)
        else:
            assert sum(drawn) >= len(drawn) // 2
    # About half of the 1s and 7s among the 270 training digits (a 1 or a 7 in five), each with
    # its own label, and none of the crops cut from pages.
    assert {label for _, label in styled} == {1, 7} and 10 <= len(styled) <= 50
    assert all(label_of[img] == label for img, label in styled)
    assert not any(img in cut for img, _ in styled)


def test_not_a_digit_examples_are_mnist_form():
    from training.data import load_split
    from training.negatives import MAKERS, make_negatives

    x, _ = load_split(FIXTURES / "mnist_small", "train")
    neg = make_negatives(70, x, seed=3)
    assert neg.shape == (70, 28, 28) and neg.dtype == np.uint8
    assert all(n.any() for n in neg)
    assert len(MAKERS) >= 7


def test_printed_letters_join_the_not_a_digit_kinds_only_when_asked_for():
    from training.data import load_split
    from training.negatives import letter, make_negatives

    x, _ = load_split(FIXTURES / "mnist_small", "train")
    # Without letters the pool is what the shipped model's command made; with them it changes.
    plain = make_negatives(60, x, seed=4)
    assert np.array_equal(plain, make_negatives(60, x, seed=4, letters=0.0))
    assert not np.array_equal(plain, make_negatives(60, x, seed=4, letters=0.5))
    rng = np.random.default_rng(0)
    for _ in range(20):
        crop = letter(rng)
        assert crop.dtype == np.uint8 and crop.ndim == 2 and crop.any()
        assert set(np.unique(crop)) <= {0, 255}  # a binary mask, as the segmenter's crops are


def test_page_crops_are_what_the_pipeline_cuts_labelled_by_the_written_digits(scanner):
    from collections import Counter

    from benchmarks.quality.synth import DigitBank, make_page
    from training.page_crops import NOT_A_DIGIT, page_crops

    page = make_page("touching", np.random.default_rng(3), DigitBank.committed())
    images, labels = page_crops(scanner, page)
    assert images.shape == (len(labels), 28, 28) and images.dtype == np.uint8
    assert all(im.any() for im in images)
    written = Counter(d["label"] for d in page.digits)
    cut = Counter(int(label) for label in labels if label != NOT_A_DIGIT)
    # Nearly every written digit is among the crops, under its own label...
    assert sum((cut & written).values()) >= 0.9 * sum(written.values())
    # ...and no label is one that was not written.
    assert set(cut) <= set(written)
    # Digits touching, cut out whole before the scanner splits them, are not a digit.
    assert NOT_A_DIGIT in labels


def test_training_adds_page_crops_to_every_epoch_as_they_are(tmp_path):
    from training import train

    rng = np.random.default_rng(0)
    crops = tmp_path / "crops.npz"
    np.savez_compressed(crops, images=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
                        labels=rng.integers(0, 11, 40).astype(np.uint8))
    out = tmp_path / "models"
    assert train.main(["--data", str(FIXTURES / "mnist_small"), "--out", str(out), "--epochs", "1",
                       "--limit", "300", "--batch-size", "32", "--page-crops", str(crops), "--no-export"]) == 0
    assert "+ 40 crops cut by the pipeline" in (out / "train.log").read_text()
    stage = json.loads((out / "training.json").read_text())["stages"][-1]
    assert stage["page_crops_count"] == 40 and stage["page_crops"] == [str(crops)]


def test_a_second_model_holds_out_the_same_digits_and_can_keep_its_average(tmp_path):
    """--split-seed fixes the validation split apart from the seed of the weights and batches;
    --keep-average keeps the average of the last epochs whatever one epoch scored."""
    from training import train

    runs = {}
    for name, seed in (("a", 5), ("b", 6)):
        out = tmp_path / name
        assert train.main(["--data", str(FIXTURES / "mnist_small"), "--out", str(out), "--epochs", "2",
                           "--limit", "300", "--batch-size", "32", "--seed", str(seed), "--split-seed", "1",
                           "--swa-epochs", "2", "--keep-average", "--no-export"]) == 0
        runs[name] = json.loads((out / "training.json").read_text())["stages"][-1]
        assert "kept the average" in (out / "train.log").read_text()
    for stage in runs.values():
        assert stage["split_seed"] == 1 and stage["swa_kept"] and stage["best_epoch"] == 3
    assert runs["a"]["seed"] != runs["b"]["seed"]
    assert runs["a"]["val_digits"] == runs["b"]["val_digits"]


def test_the_model_card_says_when_the_average_of_the_last_epochs_was_kept():
    from types import SimpleNamespace

    from training.export import _card

    report = SimpleNamespace(per_class=[0.99] * 10, format=lambda: "")
    stage = {"command": "python -m training.train ...", "epochs": 3, "best_epoch": 4, "val_accuracy": 0.979}
    kept = _card({"files": {}}, {"int8": report}, {"float": 1.0, "int8": 0.999},
                 {"stages": [{**stage, "swa_kept": True, "swa_epochs": 3}]})
    assert "the average of the last 3 epochs' weights kept" in kept and "epoch 4" not in kept
    best = _card({"files": {}}, {"int8": report}, {"float": 1.0, "int8": 0.999},
                 {"stages": [{**stage, "best_epoch": 2, "swa_kept": False}]})
    assert "best by validation epoch 2" in best
