"""Validate the LAS estimator against MiraBest's catalogued largest angular sizes.

    .venv/bin/python benchmarks/las_validation.py                       # defaults, writes the plot
    .venv/bin/python benchmarks/las_validation.py --sweep               # also a few other settings
    .venv/bin/python benchmarks/las_validation.py --plot out/las.png

Runs on the native 150x150 FIRST images (1.8"/px) of all 1,256 MiraBest sources and prints
the Spearman rank correlation, the number compared and the median absolute error.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from radiolatent.config import LASConfig
from radiolatent.data.las import plot_las_validation, validate_las
from radiolatent.data.registry import load_dataset

#: alternatives to the defaults, to show how sensitive the figure is to each rule.
SWEEP = (
    {"companion_flux_fraction": None},
    {"companion_pairs": False},
    {"companion_flux_fraction": 0.05},
    {"companion_flux_fraction": 0.01},
    {"central_fraction": 0.3},
    {"min_pixels": 5},
)


def report(dataset, config: LASConfig, label: str) -> dict:
    start = time.perf_counter()
    result = validate_las(dataset, config)
    seconds = time.perf_counter() - start
    print(
        f"{label:<40} spearman {result['spearman']:.3f}  n {result['n']}  "
        f'median |err| {result["median_abs_error_arcsec"]:.1f}"  ({seconds:.1f} s)'
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="las_validation.png", help="where to write the scatter plot")
    parser.add_argument("--sweep", action="store_true", help="also try a few other settings")
    args = parser.parse_args()

    dataset = load_dataset("mirabest:all")
    result = report(dataset, LASConfig(), "defaults")
    print(f"wrote {plot_las_validation(result['estimate'], result['catalogue'], args.plot)}")
    if args.sweep:
        for change in SWEEP:
            report(dataset, dataclasses.replace(LASConfig(), **change), str(change))


if __name__ == "__main__":
    main()
