"""[B]'s, [C]'s and the cut study's SSL presets (config/presets.py)."""

from radiolatent.config import SSL_METHODS, preset


def test_b_paper_follows_b():
    run = preset("byol", "b-paper")
    t = run.train
    assert (run.model.backbone, run.model.projection_dim) == ("resnet18", 100)
    assert (t.optimizer, t.lr, t.momentum, t.weight_decay, t.lr_schedule, t.batch_size) == (
        "sgd",
        0.6,
        0.9,
        5e-4,
        "cosine",
        256,
    )


def test_c_mirabest_follows_c_and_fits_the_shipped_backbone():
    run = preset("byol", "c-mirabest")
    t, a = run.train, run.views
    assert (t.batch_size, t.epochs, t.optimizer, t.lr) == (32, 50, "adam", 1e-4)
    assert (run.model.momentum_start, run.model.projection_dim) == (0.99, 100)
    assert (a.flip_p, a.rotate_p, a.crop_scale[0]) == (0.5, 0.7, 0.7)
    cpu = preset("byol", "cpu").model  # --init pretrained loads its weights
    assert (run.model.backbone, run.model.stem_stride, run.model.stem_max_pool) == (
        cpu.backbone,
        cpu.stem_stride,
        cpu.stem_max_pool,
    )


def test_every_method_has_the_presets():
    for method in SSL_METHODS:
        for name in ("b-paper", "c-mirabest", "cut"):
            assert preset(method, name).model.method == method
