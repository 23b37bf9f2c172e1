"""Export the trained Keras model as the origin did, plus the model card.

    python -m training.export --model models/digitscan.keras --data ../shared/data/mnist --out models/

Writes, beside the `.keras` file: the JSON architecture, a float TFLite model, a quantized
(int8 weights and activations, float32 in and out) TFLite model, `manifest.json` with the
SHA-256 of every file, and `MODEL_CARD.md` with each export's accuracy on the MNIST test split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from digitscan.classify import KerasClassifier, LiteRTClassifier  # noqa: E402
from training.data import load_split, split_validation  # noqa: E402
from training.evaluate import evaluate  # noqa: E402

FILES = {
    "keras": "digitscan.keras",
    "json": "digitscan.json",
    "float": "digitscan_float.tflite",
    "int8": "digitscan_int8.tflite",
}
CLASSES = [str(d) for d in range(10)] + ["not a digit"]


def _convert(model, calibration: np.ndarray | None) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_all(keras_path: Path, out: Path, data: Path, calibration_digits: np.ndarray,
               log: Callable[[str], None] = print) -> dict:
    import keras

    model = keras.saving.load_model(keras_path)
    (out / FILES["json"]).write_text(model.to_json(indent=2) + "\n")
    (out / FILES["float"]).write_bytes(_convert(model, None))
    rng = np.random.default_rng(0)
    pick = rng.choice(len(calibration_digits), min(1000, len(calibration_digits)), replace=False)
    calib = calibration_digits[pick][..., None].astype(np.float32) / 255.0
    (out / FILES["int8"]).write_bytes(_convert(model, calib))

    images, labels = load_split(data, "test")
    reports, preds = {}, {}
    for kind, cls in (("keras", KerasClassifier), ("float", LiteRTClassifier), ("int8", LiteRTClassifier)):
        report = evaluate(cls(out / FILES[kind]), images, labels)
        reports[kind], preds[kind] = report, report.predictions
        log(f"{FILES[kind]}: {report.accuracy * 100:.2f}% on MNIST test")
    agreement = {k: float((preds[k] == preds["keras"]).mean()) for k in ("float", "int8")}
    log(f"agreement with Keras: float {agreement['float'] * 100:.2f}%, int8 {agreement['int8'] * 100:.2f}%")

    manifest = {
        "input": {"shape": [None, 28, 28, 1], "dtype": "float32", "range": [0.0, 1.0],
                  "ink": "white on black, MNIST form (fit in 20x20, centred by centre of mass)"},
        "classes": CLASSES,
        "default": FILES["int8"],
        "files": {
            FILES[k]: {"sha256": _sha256(out / FILES[k]), "bytes": (out / FILES[k]).stat().st_size,
                       **({"mnist_test_accuracy": round(reports[k].accuracy, 4)} if k in reports else {})}
            for k in FILES
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    training = json.loads((out / "training.json").read_text()) if (out / "training.json").exists() else {}
    (out / "MODEL_CARD.md").write_text(_card(manifest, reports, agreement, training))
    log(f"wrote {out / 'manifest.json'} and {out / 'MODEL_CARD.md'}")
    return manifest


_SCHEDULES = {
    "plateau": "ReduceLROnPlateau: halved after 2 epochs without gain in validation accuracy",
    "cosine": "cosine decay to 1e-5 over the epochs",
}


def _card(manifest: dict, reports: dict, agreement: dict, training: dict) -> str:
    files = manifest["files"]
    rows = "\n".join(
        f"| `{name}` | {info['bytes']:,} | "
        + (f"{info['mnist_test_accuracy'] * 100:.2f}%" if "mnist_test_accuracy" in info else "-")
        + f" | `{info['sha256']}` |"
        for name, info in files.items()
    )
    per_class = " | ".join(f"{a * 100:.2f}" for a in reports["int8"].per_class)
    stages = training.get("stages", [training] if training else [{}])
    t = stages[0]
    stage_lines = "\n".join(
        f"- Stage {n}: `{st.get('command', '?')}`: {st.get('epochs', '?')} epochs, "
        + (f"the average of the last {st.get('swa_epochs')} epochs' weights kept" if st.get("swa_kept")
           else f"best by validation epoch {st.get('best_epoch', '?')}")
        + f" (validation accuracy {st.get('val_accuracy', 0) * 100:.2f}%, "
        f"digits and not-a-digit together); learning rate {st.get('lr', 1e-3):g} "
        f"({_SCHEDULES[st.get('schedule', 'plateau')]}), photo augmentation on "
        f"{st.get('photo_share', 1.0) * 100:.0f}% of examples"
        + (f" (of those, {st['page_share'] * 100:.0f}% shown as on a page)" if st.get("page_share") else "")
        + f", not-a-digit loss weight {st.get('not_a_digit_weight', 1.0):g}"
        + (f"; {st['page_crops_count']:,} crops cut by the pipeline from pages added to each epoch."
           if st.get("page_crops_count") else ".")
        for n, st in enumerate(stages, 1)
    )
    crops = sum(st.get("page_crops_count", 0) for st in stages)
    crops_line = (f"\n- Crops cut by the pipeline from generated pages of the training digits, labelled by the "
                  f"digit written there\n  (`training/page_crops.py`): {crops:,}, added unaugmented to each "
                  f"epoch of the stages that name them." if crops else "")
    return f"""# digitscan CNN: model card

## What it is
A compact CNN of the origin's family (see `training/model.py` for each change and why) that reads
one 28x28 crop, ink white on black, float32 in 0..1, MNIST form (fitted in 20x20, centred by
centre of mass), and answers 11 probabilities: digits 0-9, then **not a digit**.

## Data
- MNIST training files, {t.get('train_digits', '?')} digits for training and {t.get('val_digits', '?')}
  held out (stratified, seeded) for validation: the epoch and the learning-rate steps were
  chosen by validation accuracy only.
- "Not a digit": a pool of {t.get('negatives_pool', '?')} crops made in code (`training/negatives.py`:
  specks, dashes, underlines, rules, grid pieces, box corners and outlines, fragments of
  training digits, two or three training digits touching, scribbles), {t.get('negatives_per_epoch', '?')} drawn afresh each epoch.
- Augmentation each batch (`training/augment.py`): rotation 10 deg, zoom 0.1, shifts 0.1 (the
  origin's), shear 0.15, elastic distortion, stroke thickening and thinning, blur, noise, hard
  thresholding; and digits shown as the pipeline sees them written on a page
  (`--page-share`: large, binary, a fine pen's or a marker's stroke, then `to_mnist`).{crops_line}
- The MNIST test split (10,000 images) was read only for the figures below.

## Training
{stage_lines}
- Batch {t.get('batch_size', '?')}; seed {t.get('seed', '?')}; RMSprop; the best epoch's weights (by
  validation accuracy) are kept, or the average of the last epochs' weights when it is better there;
  CPU, 2 cores.

## Accuracy on the full MNIST test split
A digit answered "not a digit" counts as wrong. Measured by `python -m training.evaluate --model
models/FILE --data ../shared/data/mnist`.

| file | bytes | MNIST test accuracy | sha256 |
|---|---|---|---|
{rows}

Agreement with the Keras model's answers: float TFLite {agreement['float'] * 100:.2f}%, quantized
TFLite {agreement['int8'] * 100:.2f}%. The quantized model is the default runtime model.

Per class (quantized model), digits 0-9: {per_class}

Confusion matrix of the quantized model (rows: true digit; columns: answer 0-9, not a digit):

```
{reports['int8'].format()}
```

## Limits
- MNIST digits are American-style; a 7 with a bar, a 1 with a long flag, or a 4 written closed
  read less reliably than the figures above suggest.
- "Not a digit" was learned from marks made in code; real photos bring marks it has not seen.
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=Path("models/digitscan.keras"))
    p.add_argument("--data", type=Path, required=True, help="folder with the MNIST IDX files")
    p.add_argument("--out", type=Path, default=None, help="default: the model's folder")
    p.add_argument("--seed", type=int, default=20261124, help="the training seed (for the calibration digits)")
    args = p.parse_args(argv)
    images, labels = load_split(args.data, "train")
    (x_train, _), _ = split_validation(images, labels, 0.1, args.seed)
    export_all(args.model, args.out or args.model.parent, args.data, x_train)
    return 0


if __name__ == "__main__":
    sys.exit(main())
