"""Bates numbering: one stamp per page, prefix + zero-padded number, continuous across volumes.

Pure functions so that the numbering rules are table-tested without a renderer.
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DIGITS", "bates_number", "bates_range", "plan_volumes"]

DIGITS = 6


def bates_number(prefix: str, n: int, digits: int = DIGITS) -> str:
    """``prefix`` + ``n`` zero-padded to ``digits``; refuses numbers that would not fit."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n < 10**digits:
        raise ValueError(f"Bates number {n!r} is outside 1..{10**digits - 1}")
    if not prefix:
        raise ValueError("a Bates prefix is required")
    return f"{prefix}{n:0{digits}d}"


def bates_range(prefix: str, first: int, last: int, digits: int = DIGITS) -> str:
    """``FP000003–FP000007``, or a single number when the range is one page."""
    if last < first:
        raise ValueError(f"Bates range {first}..{last} is empty")
    start = bates_number(prefix, first, digits)
    return start if first == last else f"{start}–{bates_number(prefix, last, digits)}"


def plan_volumes(sizes: Sequence[int], limit: int, *, first_overhead: int = 0,
                 last_overhead: int = 0, volume_overhead: int = 0) -> list[range]:
    """Pack exhibits, in order and never split, into volumes whose estimated size stays within ``limit``.

    ``sizes`` are per-exhibit byte estimates; the first volume also carries the
    front matter and the last the back matter. An exhibit larger than the limit
    gets a volume to itself, since an exhibit is never split.
    """
    if limit <= 0:
        raise ValueError("the volume limit must be positive")
    volumes: list[range] = []
    start = 0
    used = volume_overhead + first_overhead
    for index, size in enumerate(sizes):
        if index > start and used + size > limit:
            volumes.append(range(start, index))
            start, used = index, volume_overhead
        used += size
    volumes.append(range(start, len(sizes)))
    if len(volumes[-1]) > 1 and used + last_overhead > limit:
        tail = volumes.pop()
        volumes += [range(tail.start, tail.stop - 1), range(tail.stop - 1, tail.stop)]
    return volumes
