"""Train the digitscan CNN on MNIST plus made-up "not a digit" crops.

    python -m training.train --data ../shared/data/mnist --out models/

Reads top to bottom: data, validation split, model, training, then export and the final
report on the MNIST test split (which is used for nothing else).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training.augment import augment_batch  # noqa: E402
from training.data import download, load_split, split_validation  # noqa: E402
from training.negatives import make_negatives  # noqa: E402
from training.styles import STYLES, continental  # noqa: E402

NOT_A_DIGIT = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[1])
    p.add_argument("--data", type=Path, default=None,
                   help="folder with the four MNIST IDX .gz files (default: download to ~/.cache/digitscan/mnist)")
    p.add_argument("--out", type=Path, default=Path("models"), help="where the model and exports go")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the validation split (default: --seed); give the shipped model's seed to train "
                        "another model that holds out the same digits, so both are judged on unseen pages")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training files held out")
    p.add_argument("--negatives", type=int, default=36000, help="size of the not-a-digit pool")
    p.add_argument("--negatives-per-epoch", type=int, default=7000)
    p.add_argument("--limit", type=int, default=0, help="train on the first N training images only (for smoke tests)")
    p.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (RMSprop)")
    p.add_argument("--schedule", choices=("plateau", "cosine"), default="plateau",
                   help="plateau: halve the learning rate after 2 epochs without gain in validation accuracy "
                        "(the origin's); cosine: from --lr down to 1e-5 along half a cosine over the epochs")
    p.add_argument("--init", type=Path, default=None, help="start from this .keras model's weights (fine-tuning)")
    p.add_argument("--swa-epochs", type=int, default=0,
                   help="also try the average of the weights of the last N epochs (stochastic weight averaging)")
    p.add_argument("--keep-average", action="store_true",
                   help="keep the average of the last --swa-epochs epochs even where one epoch scored higher "
                        "on validation digits (a few images of noise); choose between models on validation pages")
    p.add_argument("--photo-share", type=float, default=1.0,
                   help="share of examples given the photo augmentations on top of the origin's")
    p.add_argument("--page-share", type=float, default=0.0,
                   help="of those, the share shown as the pipeline sees a digit written on a page "
                        "(large, binary, a fine pen's or a marker's stroke, then normalized)")
    p.add_argument("--style-share", type=float, default=0.0,
                   help="chance that a 1 or a 7 is written the continental way first (a flag on the 1, a "
                        "bar through the 7: training.styles)")
    p.add_argument("--not-a-digit-weight", type=float, default=1.0,
                   help="loss weight of the not-a-digit examples (below 1: fewer digits rejected)")
    p.add_argument("--letter-share", type=float, default=0.0,
                   help="weight of printed letters and signs among the not-a-digit kinds (whose shares "
                        "sum to 1); 0 makes none, as for the shipped model")
    p.add_argument("--page-crops", type=Path, nargs="+", default=[],
                   help=".npz files of crops cut by the pipeline from pages of training digits, with their "
                        "labels (python -m training.page_crops), added as they are to every epoch")
    p.add_argument("--no-export", action="store_true", help="skip the TFLite exports and the model card")
    return p.parse_args(argv)


class Log:
    """Prints a line and keeps it in the training log."""

    def __init__(self, path: Path):
        self.file = path.open("a", encoding="utf-8")

    def __call__(self, line: str) -> None:
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    from training.model import build_model

    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "train.log")
    data = args.data or download(Path.home() / ".cache" / "digitscan" / "mnist")
    log(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} python -m training.train {' '.join(argv if argv is not None else sys.argv[1:])}")
    keras.utils.set_random_seed(args.seed)

    # -- data: MNIST train, minus a held-out validation split, plus not-a-digit crops
    images, labels = load_split(data, "train")
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    split_seed = args.seed if args.split_seed is None else args.split_seed
    (x_train, y_train), (x_val, y_val) = split_validation(images, labels, args.val_fraction, split_seed)
    n_neg = args.negatives if not args.limit else max(100, args.limit // 5)
    neg_train = make_negatives(n_neg, x_train, seed=args.seed + 1, letters=args.letter_share)
    neg_val = make_negatives(max(50, len(x_val) // 5), x_val, seed=args.seed + 2, letters=args.letter_share)
    per_epoch = min(args.negatives_per_epoch, n_neg) if not args.limit else n_neg // 2
    log(f"train {len(x_train)} digits + {per_epoch} of {n_neg} not-a-digit a epoch; "
        f"validation {len(x_val)} digits + {len(neg_val)} not-a-digit")
    crops_x = np.zeros((0, 28, 28), np.uint8)
    crops_y = np.zeros(0, np.uint8)
    for path in args.page_crops:
        with np.load(path) as crops:
            crops_x = np.concatenate([crops_x, crops["images"]])
            crops_y = np.concatenate([crops_y, crops["labels"]])
    if args.page_crops:
        log(f"+ {len(crops_y)} crops cut by the pipeline from pages "
            f"({', '.join(map(str, args.page_crops))}) a epoch, as they are")

    val_x = np.concatenate([x_val, neg_val])[..., None].astype(np.float32) / 255.0
    val_y = np.concatenate([y_val, np.full(len(neg_val), NOT_A_DIGIT, np.uint8)])

    class Batches(keras.utils.PyDataset):
        """One epoch: every training digit and a fresh sample of negatives, augmented anew."""

        def __init__(self) -> None:
            super().__init__(workers=2, use_multiprocessing=False, max_queue_size=16)
            self.epoch = 0
            self._shuffle()

        def _shuffle(self) -> None:
            rng = np.random.default_rng(args.seed + 1000 + self.epoch)
            neg = rng.choice(len(neg_train), per_epoch, replace=False)
            self.x = np.concatenate([x_train, neg_train[neg], crops_x])
            self.y = np.concatenate([y_train, np.full(per_epoch, NOT_A_DIGIT, np.uint8), crops_y])
            self.made = len(self.y) - len(crops_y)  # the examples from here on are crops, not augmented
            self.order = rng.permutation(len(self.y))

        def __len__(self) -> int:
            return int(np.ceil(len(self.order) / args.batch_size))

        def __getitem__(self, i: int):
            idx = self.order[i * args.batch_size : (i + 1) * args.batch_size]
            rng = np.random.default_rng([args.seed, self.epoch, i])
            y = self.y[idx]
            weights = np.where(y == NOT_A_DIGIT, args.not_a_digit_weight, 1.0).astype(np.float32)
            # Crops cut from pages are already what the classifier is shown there: not augmented.
            as_cut = idx >= self.made
            x = np.empty((len(idx), 28, 28, 1), np.float32)
            made = self.x[idx[~as_cut]]  # a copy (indexed by an array): restyled in place
            if args.style_share:
                for k, label in enumerate(y[~as_cut]):
                    if label in STYLES and rng.random() < args.style_share:
                        made[k] = continental(made[k], int(label), rng)
            x[~as_cut] = augment_batch(made, rng, args.photo_share, args.page_share)
            x[as_cut] = self.x[idx[as_cut]][..., None] / np.float32(255.0)
            return x, y, weights

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._shuffle()

    # -- model
    model = build_model()
    if args.init:
        model.set_weights(keras.saving.load_model(args.init).get_weights())
        log(f"starting from the weights of {args.init}")
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=args.lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            log(f"epoch {epoch + 1:3d}/{args.epochs}  {time.perf_counter() - self.start:5.1f}s  "
                f"loss {logs['loss']:.4f}  acc {logs['accuracy']:.4f}  "
                f"val_loss {logs['val_loss']:.4f}  val_acc {logs['val_accuracy']:.4f}  lr {lr:.2e}")

    class WeightAverage(keras.callbacks.Callback):
        """Sums the weights at the end of each of the last epochs, for their average."""

        def __init__(self, start: int):
            super().__init__()
            self.start, self.count, self.total = start, 0, None

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 <= self.start:
                return
            weights = [np.asarray(w, np.float64) for w in self.model.get_weights()]
            self.total = weights if self.total is None else [t + w for t, w in zip(self.total, weights)]
            self.count += 1

    averager = WeightAverage(args.epochs - args.swa_epochs)
    if args.schedule == "cosine":
        # Validation accuracy near 99% moves by a few images from epoch to epoch: a plateau rule
        # reads that noise as a plateau and lowers the rate early; a fixed schedule does not.
        schedule = keras.callbacks.LearningRateScheduler(
            lambda epoch: 1e-5 + 0.5 * (args.lr - 1e-5) * (1 + math.cos(math.pi * epoch / args.epochs)))
    else:
        schedule = keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=2, min_lr=1e-5)
    best_path = args.out / "digitscan.keras"
    history = model.fit(
        Batches(),
        epochs=args.epochs,
        validation_data=(val_x, val_y),
        verbose=1 if sys.stdout.isatty() else 0,
        callbacks=[
            schedule,
            keras.callbacks.ModelCheckpoint(best_path, monitor="val_accuracy", save_best_only=True),
            EpochLog(),
            averager,
        ],
    )
    val_acc = history.history["val_accuracy"]
    best_epoch = int(np.argmax(val_acc)) + 1
    log(f"best epoch {best_epoch} by validation accuracy {max(val_acc):.4f}; saved {best_path}")
    if args.swa_epochs and averager.count:
        model.set_weights([(t / averager.count).astype(np.float32) for t in averager.total])
        # Batch norm's statistics belong to the weights they were measured with: measure again.
        batches = Batches()
        for i in range(min(len(batches), 200)):
            model(batches[i][0], training=True)
        swa_acc = float(model.evaluate(val_x, val_y, verbose=0)[1])
        log(f"average of the last {averager.count} epochs: validation accuracy {swa_acc:.4f}")
        if swa_acc > max(val_acc) or args.keep_average:
            why = (f"better than epoch {int(np.argmax(val_acc)) + 1}" if swa_acc > max(val_acc)
                   else "--keep-average")
            model.save(best_path)
            val_acc.append(swa_acc)
            best_epoch = len(val_acc)  # one past the last epoch: the average
            log(f"kept the average ({why}); saved {best_path}")
    stage = {
        "command": "python -m training.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "epochs": args.epochs, "best_epoch": best_epoch, "seed": args.seed,
        "split_seed": split_seed,
        "batch_size": args.batch_size, "val_fraction": args.val_fraction, "lr": args.lr,
        "schedule": args.schedule,
        "photo_share": args.photo_share, "page_share": args.page_share, "style_share": args.style_share,
        "not_a_digit_weight": args.not_a_digit_weight,
        "letter_share": args.letter_share,
        "page_crops": [str(p) for p in args.page_crops], "page_crops_count": int(len(crops_y)),
        "init": str(args.init) if args.init else None,
        "train_digits": int(len(x_train)), "val_digits": int(len(x_val)),
        "negatives_pool": int(n_neg), "negatives_per_epoch": int(per_epoch),
        "val_accuracy": float(val_acc[best_epoch - 1]), "swa_epochs": args.swa_epochs,
        "swa_kept": bool(args.swa_epochs and best_epoch > args.epochs),
    }
    record = args.out / "training.json"
    stages = []
    if args.init and record.exists():  # fine-tuning: keep the record of what came before
        previous = json.loads(record.read_text())
        stages = previous.get("stages", [previous])
    record.write_text(json.dumps({"stages": [*stages, stage]}, indent=2) + "\n")

    if not args.no_export:
        from training.export import export_all

        export_all(best_path, args.out, data, x_train, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
