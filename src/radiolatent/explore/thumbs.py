"""Thumbnails: a 64x64 uint8 model input as a coloured PNG, rendered on demand and cached."""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image


def colour_table(cmap: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colour map."""
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def render_png(image: np.ndarray, lut: np.ndarray, size: int) -> bytes:
    """PNG bytes of one 2-D uint8 image through `lut`, scaled to size x size.

    Nearest-neighbour scaling keeps the model's pixels visible: a radio astronomer
    wants to see what the encoder saw, not a smoothed version of it.
    """
    # images keep FITS row order (row 0 = south); a PNG's first row is its top: flip, north up
    rgb = lut[np.flipud(np.asarray(image, dtype=np.uint8))]
    picture = Image.fromarray(rgb, mode="RGB").resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class PngCache:
    """A bounded, thread-safe least-recently-used cache of rendered PNGs by row number."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0

    def get(self, row: int, render) -> bytes:
        with self._lock:
            if row in self._items:
                self._items.move_to_end(row)
                return self._items[row]
        png = render(row)
        with self._lock:
            self.renders += 1
            self._items[row] = png
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return png
