"""Block strings: the VDVAE's architecture as data (after openai/vdvae's `hps.enc_blocks`).

"64x3" = 3 residual blocks at 64x64; "64d2" = average-pool 64 -> 32 (encoder only);
"4m1" = nearest-neighbour upsampling 1 -> 4 (decoder only); "64:32,32:64" gives the
channels per resolution. `parse_blocks` checks each token's resolution against the
previous ones, so a typo fails here instead of as a shape error in a forward pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^(\d+)([xdm])(\d+)$")


@dataclass(frozen=True)
class BlockSpec:
    """One token of a block string.

    kind "block": `count` blocks at `res`; "down": average-pool `res` -> res // factor;
    "up": upsample from `source` to `res`.
    """

    kind: str
    res: int
    count: int = 1
    source: int = 0


def parse_blocks(spec: str, direction: str) -> list[BlockSpec]:
    """Parse an encoder ("down") or decoder ("up") block string into `BlockSpec`s.

    Checks that each token's resolution follows from the previous tokens, so a typo
    fails here instead of as a shape error deep in a forward pass.
    """
    if direction not in ("down", "up"):
        raise ValueError(f"direction must be 'down' or 'up', got {direction!r}")
    items: list[BlockSpec] = []
    res = None
    for token in spec.replace(" ", "").split(","):
        match = _TOKEN.match(token)
        if not match:
            raise ValueError(f"bad block token {token!r} in {spec!r} (want e.g. 64x2, 64d2, 8m4)")
        left, op, right = int(match[1]), match[2], int(match[3])
        if op == "x":
            if res is not None and left != res:
                raise ValueError(f"{token!r}: blocks at {left} but the stream is at {res}")
            if right < 1:
                raise ValueError(f"{token!r}: need at least one block")
            items.append(BlockSpec("block", left, count=right))
            res = left
        elif op == "d":
            if direction != "down" or (res is not None and left != res):
                raise ValueError(f"{token!r}: pooling token out of place in {spec!r}")
            if right < 2 or left % right:
                raise ValueError(f"{token!r}: {left} is not divisible by factor {right}")
            items.append(BlockSpec("down", left, count=right))
            res = left // right
        else:
            if direction != "up" or res is None or right != res or left <= right or left % right:
                raise ValueError(f"{token!r}: upsampling token out of place in {spec!r}")
            items.append(BlockSpec("up", left, source=right))
            res = left
    if not any(item.kind == "block" for item in items):
        raise ValueError(f"{spec!r} has no blocks")
    return items


def parse_widths(spec: str) -> dict[int, int]:
    """Parse "64:32,32:64,..." into {resolution: channels}."""
    widths = {}
    for token in spec.replace(" ", "").split(","):
        parts = token.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"bad width token {token!r} in {spec!r} (want e.g. 64:32)")
        widths[int(parts[0])] = int(parts[1])
    return widths


def stage_counts(items: list[BlockSpec]) -> dict[int, int]:
    """Blocks per resolution, e.g. {64: 3, 32: 3, ...} for the paper's encoder."""
    counts: dict[int, int] = {}
    for item in items:
        if item.kind == "block":
            counts[item.res] = counts.get(item.res, 0) + item.count
    return counts
