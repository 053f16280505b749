"""Facts about the shipped datasets that the registry and the loaders both read (the
registry imports loaders late, so these cannot live in the loaders)."""

from __future__ import annotations

#: arcsec per pixel of each survey's cutouts.
PIXEL_SCALE_ARCSEC = {"FIRST": 1.8, "NVSS": 15.0}

#: MiraBest subset -> the codes it holds (the `dataset` column names the subset).
MIRABEST_SUBSETS = {
    "confident": ("100", "102", "104", "200", "201"),
    "uncertain": ("110", "112", "210"),
    "hybrid": ("300", "310"),
}

#: the splits of the FIRST Radio Galaxy Dataset (Griese et al. 2023), in its order.
FIRST_GALAXY_SPLITS = ("train", "valid", "test")
