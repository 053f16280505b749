"""The loop's model-agnostic parts: the skip guard, the plateau, the dihedral augmentation."""

import math

import numpy as np
import torch

from radiolatent.training import Plateau, UpdateGuard, random_flips_and_turns


def test_guard_skips_non_finite_steps():
    guard = UpdateGuard(factor=10.0, window=50, min_history=5)
    assert not guard.accept(math.nan, 1.0)
    assert not guard.accept(1.0, math.inf)
    assert guard.accept(1.0, 1.0)
    assert guard.skipped_nonfinite == 2


def test_guard_skips_an_outlier_but_never_everything():
    guard = UpdateGuard(factor=3.0, window=20, min_history=5)
    for _ in range(10):
        assert guard.accept(1.0, 1.0)
    assert not guard.accept(1.0, 100.0)  # a spike is an outlier
    assert guard.skipped_outlier == 1
    # Norms that genuinely rise 10x at once: the threshold follows them.
    accepted = [guard.accept(1.0, 50.0) for _ in range(40)]
    assert sum(accepted) >= 25 and all(accepted[-10:])
    # Steadily growing norms are never skipped wholesale.
    steady = UpdateGuard(factor=2.0, window=20, min_history=5)
    results = [steady.accept(1.0, 1.1**i) for i in range(200)]
    assert sum(results) > 80
    longest_skip_run = max(len(run) for run in "".join("s" if not r else "a" for r in results).split("a"))
    assert longest_skip_run <= 3


def test_guard_state_round_trips():
    guard = UpdateGuard(factor=3.0, window=20, min_history=5)
    for norm in [1.0] * 10 + [100.0]:
        guard.accept(1.0, norm)
    again = UpdateGuard(factor=3.0, window=20, min_history=5)
    again.load_state_dict(guard.state_dict())
    assert again.threshold() == guard.threshold() and again.skipped == guard.skipped == 1


def test_plateau_halves_the_lr_after_patience_epochs_without_improvement():
    plateau = Plateau(factor=0.5, patience=2, threshold=1e-4)
    for value in [10.0, 9.0, 9.0, 9.0, 9.0]:
        plateau.step(value)
    assert plateau.scale == 0.5


def test_random_flips_and_turns_is_a_dihedral_transform():
    x = torch.arange(2 * 64 * 64, dtype=torch.float32).view(2, 1, 64, 64)
    out = random_flips_and_turns(x, np.random.default_rng(0))
    for i in range(2):
        candidates = [torch.rot90(x[i], k, dims=(-2, -1)) for k in range(4)]
        candidates += [torch.flip(c, dims=(-1,)) for c in candidates]
        assert any(torch.equal(out[i], c) for c in candidates)
