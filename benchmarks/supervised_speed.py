"""Seconds per epoch of the supervised ceiling (a ResNet-18 from random weights, the
`ceiling` fine-tuning preset, radiolatent.studies.supervised) on MBC train: prints one line.
Usage: python benchmarks/supervised_speed.py [EPOCHS] [THREADS]"""

from __future__ import annotations

import sys
import time

from radiolatent.studies.supervised import ceiling_run, train_and_score


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else ceiling_run().train.threads
    run = ceiling_run([f"train.epochs={epochs}", f"train.patience={epochs}", f"train.threads={threads}"])
    started = time.perf_counter()
    row = train_and_score("mbc:train", 0, run, progress=False)
    seconds = time.perf_counter() - started
    print(
        f"{row['epochs']} epochs, {threads} threads, on {row['train_images']} images: "
        f"{seconds / row['epochs']:.1f} s/epoch, scoring included "
        f"(test accuracy after them {row['accuracy']:.3f})"
    )


if __name__ == "__main__":
    main()
