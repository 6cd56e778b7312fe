"""How a consumed batch is split for concurrent handling without breaking any key's order.

Records of one key (the aggregate id) stay in the order they were fetched, in one lane; lanes run
concurrently, each in transactions of its own. Pure functions: the runtime calls them, tests too.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def lanes(items: Sequence[T], key: Callable[[T], Hashable], max_lanes: int) -> list[list[T]]:
    """Split `items` into at most `max_lanes` lanes; all items of one key go to one lane, in order.

    Keys are dealt to the lane that holds the fewest items so far, so one busy key does not leave
    the other lanes idle while it is still cheap to balance (one pass, no sorting of items).
    """
    if max_lanes < 1:
        raise ValueError("max_lanes must be at least 1")
    by_key: dict[Hashable, list[T]] = {}
    for item in items:
        by_key.setdefault(key(item), []).append(item)
    count = min(max_lanes, len(by_key))
    planned: list[list[T]] = [[] for _ in range(count)]
    for group in sorted(by_key.values(), key=len, reverse=True):
        min(planned, key=len).extend(group)
    # Within a lane, keep fetch order across keys: a lane is handled front to back.
    position = {id(item): index for index, item in enumerate(items)}
    for lane in planned:
        lane.sort(key=lambda item: position[id(item)])
    return planned


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in consecutive groups of at most `size` (one transaction each)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]
