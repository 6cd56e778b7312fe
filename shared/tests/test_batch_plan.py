"""How a consumed batch is planned (`shared.messaging.batch`): lanes by key, then group chunks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared.messaging.batch import chunks, lanes


@dataclass(eq=False)  # identity, as the runtime's records: two equal records are two items
class Item:
    key: str | None
    seq: int


def key_of(item: Item) -> object:
    return item.key


#: up to 200 records over up to 12 keys (few keys: some keys get many records)
keys = st.lists(st.sampled_from([f"k{n}" for n in range(12)]), max_size=200)
#: no time limit per example: the machine running the tests may be busy
unhurried = settings(deadline=None)


def items_of(drawn: list[str]) -> list[Item]:
    return [Item(key, seq) for seq, key in enumerate(drawn)]


def by_key(items: list[Item]) -> dict[object, list[Item]]:
    grouped: dict[object, list[Item]] = defaultdict(list)
    for item in items:
        grouped[item.key].append(item)
    return grouped


@unhurried
@given(keys, st.integers(min_value=1, max_value=8))
def test_every_item_is_in_exactly_one_lane(drawn, max_lanes):
    items = items_of(drawn)
    planned = lanes(items, key_of, max_lanes)
    placed = [id(item) for lane in planned for item in lane]
    assert sorted(placed) == sorted(id(item) for item in items)
    assert len(placed) == len(set(placed))


@unhurried
@given(keys, st.integers(min_value=1, max_value=8))
def test_all_items_of_a_key_are_in_one_lane_in_their_order(drawn, max_lanes):
    items = items_of(drawn)
    planned = lanes(items, key_of, max_lanes)
    for key, expected in by_key(items).items():
        holding = [lane for lane in planned if any(item.key == key for item in lane)]
        assert len(holding) == 1
        assert [item for item in holding[0] if item.key == key] == expected


@unhurried
@given(keys, st.integers(min_value=1, max_value=8))
def test_a_lane_keeps_the_fetch_order_across_its_keys(drawn, max_lanes):
    items = items_of(drawn)
    for lane in lanes(items, key_of, max_lanes):
        assert [item.seq for item in lane] == sorted(item.seq for item in lane)


@unhurried
@given(keys, st.integers(min_value=1, max_value=8))
def test_at_most_max_lanes_none_of_them_empty_and_balanced(drawn, max_lanes):
    items = items_of(drawn)
    planned = lanes(items, key_of, max_lanes)
    groups = by_key(items)
    assert len(planned) == min(max_lanes, len(groups)) <= max_lanes
    assert all(planned)
    if planned:  # list scheduling: no lane exceeds the mean by more than the biggest key
        biggest = max(len(group) for group in groups.values())
        assert max(len(lane) for lane in planned) <= len(items) / len(planned) + biggest


def test_keyless_and_distinct_keys_are_spread_over_the_lanes():
    items = [Item(None, 0), Item("a", 1), Item("b", 2), Item(None, 3), Item("c", 4)]
    planned = lanes(items, key_of, 2)
    assert len(planned) == 2
    assert sorted(len(lane) for lane in planned) == [2, 3]
    keyless = next(lane for lane in planned if items[0] in lane)
    assert items[3] in keyless


@unhurried
@given(st.lists(st.integers(), max_size=300), st.integers(min_value=1, max_value=70))
def test_chunks_are_at_most_size_and_concatenate_back(values, size):
    planned = chunks(values, size)
    assert [value for chunk in planned for value in chunk] == values
    assert all(1 <= len(chunk) <= size for chunk in planned)
    assert all(len(chunk) == size for chunk in planned[:-1])  # only the last one is short
    assert len(planned) == -(-len(values) // size)


def test_nonsense_sizes_are_refused():
    with pytest.raises(ValueError):
        lanes([Item("a", 0)], key_of, 0)
    with pytest.raises(ValueError):
        chunks([1], 0)
    assert lanes([], key_of, 4) == []
    assert chunks([], 64) == []
