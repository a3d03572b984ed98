import pytest

from legal_docs.bates import bates_number, bates_range, plan_volumes


@pytest.mark.parametrize("prefix, n, expected", [
    ("FP", 1, "FP000001"),
    ("FP", 42, "FP000042"),
    ("ABC", 999_999, "ABC999999"),
    ("X_1", 123_456, "X_1123456"),
])
def test_bates_number_pads_to_six_digits(prefix, n, expected):
    assert bates_number(prefix, n) == expected


@pytest.mark.parametrize("n", [0, -1, 1_000_000, True, 1.0])
def test_bates_number_refuses_numbers_that_do_not_fit(n):
    with pytest.raises(ValueError):
        bates_number("FP", n)


def test_bates_number_allows_wider_stamps():
    assert bates_number("FP", 1_000_000, digits=8) == "FP01000000"


def test_bates_number_needs_a_prefix():
    with pytest.raises(ValueError):
        bates_number("", 1)


@pytest.mark.parametrize("first, last, expected", [
    (3, 3, "FP000003"),
    (3, 7, "FP000003–FP000007"),
    (1, 2, "FP000001–FP000002"),
])
def test_bates_range(first, last, expected):
    assert bates_range("FP", first, last) == expected


def test_bates_range_refuses_reversed_ranges():
    with pytest.raises(ValueError):
        bates_range("FP", 5, 4)


@pytest.mark.parametrize("sizes, limit, expected", [
    ([10, 10, 10], 100, [range(0, 3)]),
    ([40, 40, 40], 100, [range(0, 2), range(2, 3)]),
    ([150, 10, 10], 100, [range(0, 1), range(1, 3)]),        # an oversized exhibit gets its own volume
    ([10, 150, 10], 100, [range(0, 1), range(1, 2), range(2, 3)]),
    ([], 100, [range(0, 0)]),
])
def test_plan_volumes_never_splits_an_exhibit(sizes, limit, expected):
    plan = plan_volumes(sizes, limit)
    assert plan == expected
    assert [i for volume in plan for i in volume] == list(range(len(sizes)))


def test_plan_volumes_counts_front_and_back_matter():
    assert plan_volumes([30, 30], 100, first_overhead=50) == [range(0, 1), range(1, 2)]
    assert plan_volumes([30, 30], 100, last_overhead=50) == [range(0, 1), range(1, 2)]
    assert plan_volumes([30, 30], 100, volume_overhead=20) == [range(0, 2)]


def test_plan_volumes_needs_a_positive_limit():
    with pytest.raises(ValueError):
        plan_volumes([1], 0)
