"""How long an embedding run will take, said before it runs (images x views at the rate
measured on its first batches)."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

#: a time estimate is printed when an embedding run is expected to take at least this long.
LONG_EMBED_S = 60.0
#: image-views timed (after a first, warm-up batch), or seconds, before the estimate is made.
ESTIMATE_AFTER_VIEWS = 256
ESTIMATE_AFTER_S = 5.0


class EstimateClock:
    """Times an embedding run's first batches and prints `time_estimate` if it is long."""

    def __init__(self, n_images: int, views: int, name: str):
        self.n_images, self.views, self.name = n_images, views, name
        self.started: float | None = None
        self.timed = 0
        self.done = False

    def batch_done(self, n: int) -> None:
        if self.done:
            return
        now = time.perf_counter()
        if self.started is None:  # the first batch sets up kernels and caches: not timed
            self.started = now
            return
        self.timed += n
        enough = self.timed * self.views >= ESTIMATE_AFTER_VIEWS or self.timed >= self.n_images // 4
        if enough or now - self.started > ESTIMATE_AFTER_S:
            self.done = True
            rate = self.timed * self.views / max(now - self.started, 1e-9)
            if self.n_images * self.views / rate >= LONG_EMBED_S:
                tqdm.write(time_estimate(self.n_images, self.views, rate, self.name), file=sys.stderr)


def time_estimate(n_images: int, views: int, views_per_s: float, name: str) -> str:
    """How long embedding `n_images` takes at a measured rate, e.g. "embedding 95,895 images
    x 8 views with vdvae-cpu: about 53 min at 240 views/s; single-view codes take about 7 min"."""
    plural = "views" if views > 1 else "view"
    text = (
        f"embedding {n_images:,d} images x {views} {plural} with {name or 'this encoder'}: "
        f"about {_duration(n_images * views / views_per_s)} at {views_per_s:,.0f} {'views' if views > 1 else 'img'}/s"
    )
    if views > 1:
        text += f"; single-view codes take about {_duration(n_images / views_per_s)}"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
