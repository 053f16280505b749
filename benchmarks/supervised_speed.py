"""Seconds per epoch of the supervised ceiling (ResNet-18, radiolatent.studies.supervised) on MBC
train, for the default config: prints one line.
Usage: python benchmarks/supervised_speed.py [EPOCHS] [THREADS]"""

from __future__ import annotations

import sys
import time

from radiolatent.config.supervised import SupervisedConfig
from radiolatent.studies.supervised import train_and_score


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else SupervisedConfig().threads
    cfg = SupervisedConfig(max_epochs=epochs, patience=epochs, threads=threads)
    started = time.perf_counter()
    row = train_and_score("mbc:train", 0, cfg, progress=False)
    seconds = time.perf_counter() - started
    print(
        f"{row['epochs']} epochs, {threads} threads, on {row['train_images']} images: "
        f"{seconds / row['epochs']:.1f} s/epoch "
        f"(test accuracy after them {row['accuracy']:.3f})"
    )


if __name__ == "__main__":
    main()
