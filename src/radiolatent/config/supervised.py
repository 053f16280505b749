"""Facts of the supervised ceiling (its settings are the `ceiling` fine-tuning preset,
config/finetune.py): the labelled sets it is trained on, the name its rows carry, and
[B]'s published number."""

from __future__ import annotations

#: the labelled sets the ceiling is trained on: train split -> (test split, the results' dataset name).
SUPERVISED_SETS = {"mbc:train": ("mbc:test", "mbc"), "frdeep-n:train": ("frdeep-n:test", "nvss")}
#: the encoder name the ceiling's rows carry in the classifier results.
ENCODER = "supervised-resnet18"
#: [B]'s supervised ResNet-18 on MiraBest (accuracy).
B_SUPERVISED_ACCURACY = 0.9242
