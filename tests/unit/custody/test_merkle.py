"""Merkle math against RFC 6962/9162 known answers, mutations, and the RFC itself."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.ledger.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    ProofError,
    ProofInputError,
    RootMismatchError,
    VerificationError,
    completed_subtrees,
    consistency_proof,
    hash_from_hex,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    root_from_leaves,
    subtree_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.vectors import generate as rfc

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
TREE = json.loads((VECTORS / "rfc6962_tree.json").read_text(encoding="utf-8"))
INCLUSION = json.loads((VECTORS / "inclusion.json").read_text(encoding="utf-8"))
CONSISTENCY = json.loads((VECTORS / "consistency.json").read_text(encoding="utf-8"))
LEAVES = [bytes.fromhex(h) for h in TREE["leaves"]]
ERRORS = {"proof_malformed": ProofInputError, "root_mismatch": RootMismatchError}


def h(text):
    return bytes.fromhex(text)


def hs(texts):
    return [bytes.fromhex(text) for text in texts]


def store_of(leaves):
    store = MemoryNodeStore()
    for leaf in leaves:
        store.append(leaf_hash(leaf))
    return store


class CountingStore:
    """Wraps a store to count reads, for the O(log n) promise."""

    def __init__(self, store):
        self.store = store
        self.reads = 0

    def get_node(self, level, index):
        self.reads += 1
        return self.store.get_node(level, index)


REFERENCE = store_of(LEAVES)


# --- known answers ----------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing():
    assert EMPTY_ROOT.hex() == TREE["empty_root"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaves([]) == EMPTY_ROOT
    assert tree_root(MemoryNodeStore().get_node, 0) == EMPTY_ROOT


@pytest.mark.parametrize("position", range(8))
def test_leaf_hash_known_answers(position):
    assert leaf_hash(LEAVES[position]).hex() == TREE["leaf_hashes"][position]


def test_node_hash_is_domain_separated_from_leaf_hash():
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) != leaf_hash(left + right)


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_reference_tree(size):
    expected = TREE["roots"][str(size)]
    assert root_from_leaves(LEAVES[:size]).hex() == expected
    assert tree_root(REFERENCE.get_node, size).hex() == expected


def test_size_8_root_known_answer():
    assert TREE["roots"]["8"] == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@pytest.mark.parametrize("case", INCLUSION["valid"], ids=lambda c: f"{c['index']}-of-{c['tree_size']}")
def test_inclusion_known_answers(case):
    index, size, proof, root = case["index"], case["tree_size"], hs(case["proof"]), h(case["root"])
    assert inclusion_proof(REFERENCE.get_node, index, size) == proof
    assert root_from_inclusion_proof(index, size, h(case["leaf_hash"]), proof) == root
    verify_inclusion(index, size, h(case["leaf_hash"]), proof, root)


def test_published_inclusion_proofs_are_in_the_vectors():
    assert sum(case["published"] for case in INCLUSION["valid"]) == len(rfc.PUBLISHED_INCLUSION)


@pytest.mark.parametrize("case", INCLUSION["mutations"], ids=lambda c: f"{c['of']}-{c['desc']}")
def test_inclusion_mutations_fail(case):
    args = (case["index"], case["tree_size"], h(case["leaf_hash"]), hs(case["proof"]), h(case["root"]))
    with pytest.raises(ERRORS[case["expect"]]) as caught:
        verify_inclusion(*args)
    assert caught.value.code == case["expect"]
    if case["expect"] == "root_mismatch":
        assert caught.value.expected_root == h(case["root"])
        assert caught.value.calculated_root not in (None, caught.value.expected_root)


@pytest.mark.parametrize("case", CONSISTENCY["valid"], ids=lambda c: f"{c['first']}-to-{c['second']}")
def test_consistency_known_answers(case):
    first, second, proof = case["first"], case["second"], hs(case["proof"])
    root1, root2 = h(case["first_root"]), h(case["second_root"])
    assert consistency_proof(REFERENCE.get_node, first, second) == proof
    verify_consistency(first, second, proof, root1, root2)
    if first > 0:
        assert root_from_consistency_proof(first, second, proof, root1) == root2


@pytest.mark.parametrize("case", CONSISTENCY["mutations"], ids=lambda c: f"{c['of']}-{c['desc']}")
def test_consistency_mutations_fail(case):
    args = (case["first"], case["second"], hs(case["proof"]), h(case["first_root"]), h(case["second_root"]))
    with pytest.raises(ERRORS[case["expect"]]) as caught:
        verify_consistency(*args)
    assert caught.value.code == case["expect"]


# --- input checks and edges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "size"), [(0, 0), (1, 0), (2, 1), (-1, 4), (True, 4)], ids=["0-0", "1-0", "2-1", "neg", "bool"]
)
def test_inclusion_rejects_index_outside_tree(index, size):
    with pytest.raises(ProofInputError):
        root_from_inclusion_proof(index, size, leaf_hash(b""), [])
    with pytest.raises(ProofInputError):
        inclusion_proof(REFERENCE.get_node, index, size)


def test_single_leaf_tree_root_is_its_leaf_hash():
    only = leaf_hash(b"data")
    verify_inclusion(0, 1, only, [], only)
    with pytest.raises(ProofInputError):
        verify_inclusion(0, 1, b"", [], only)
    with pytest.raises(ProofInputError):
        verify_inclusion(0, 1, only, [], b"")


def test_consistency_edges():
    root8 = REFERENCE.root(8)
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 8, [], EMPTY_ROOT, root8)
    verify_consistency(8, 8, [], root8, root8)
    with pytest.raises(RootMismatchError):
        verify_consistency(8, 8, [], root8, REFERENCE.root(7))
    with pytest.raises(RootMismatchError):
        verify_consistency(0, 8, [], rfc.SOME_HASH, root8)
    with pytest.raises(ProofInputError):
        verify_consistency(0, 8, [EMPTY_ROOT], EMPTY_ROOT, root8)
    with pytest.raises(ProofInputError):
        verify_consistency(8, 8, [EMPTY_ROOT], root8, root8)
    with pytest.raises(ProofInputError):
        verify_consistency(8, 7, [], root8, REFERENCE.root(7))
    with pytest.raises(ProofInputError):
        root_from_consistency_proof(0, 8, [], EMPTY_ROOT)
    with pytest.raises(ProofInputError):
        consistency_proof(REFERENCE.get_node, 5, 4)


def test_errors_share_one_base():
    assert issubclass(ProofInputError, ProofError)
    assert issubclass(RootMismatchError, ProofError)
    assert issubclass(ProofError, VerificationError)


def test_hash_from_hex_is_strict():
    assert hash_from_hex(TREE["empty_root"]) == EMPTY_ROOT
    for bad in [TREE["empty_root"].upper(), TREE["empty_root"][:-2], TREE["empty_root"] + "00", " " * 64, 7]:
        with pytest.raises(ProofInputError):
            hash_from_hex(bad)


# --- the (level, index) store -------------------------------------------------------------


def test_completed_subtrees_of_leaf_7_closes_every_level():
    store = store_of(LEAVES[:7])
    completed = completed_subtrees(7, leaf_hash(LEAVES[7]), store.get_node)
    assert [(level, index) for level, index, _ in completed] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed[-1][2].hex() == TREE["roots"]["8"]


def test_completed_subtrees_of_even_leaf_is_just_the_leaf():
    completed = completed_subtrees(4, leaf_hash(LEAVES[4]), lambda level, index: pytest.fail("no read needed"))
    assert completed == [(0, 4, leaf_hash(LEAVES[4]))]


def test_store_keeps_only_complete_aligned_subtrees():
    store = store_of(LEAVES[:6])
    assert sorted(store.nodes) == sorted(
        [(0, i) for i in range(6)] + [(1, 0), (1, 1), (1, 2), (2, 0)]
    )
    for (level, index), node in store.nodes.items():
        start, end = index << level, (index + 1) << level
        assert node == rfc.mth(LEAVES[start:end])


def test_subtree_root_refuses_ranges_the_rfc_never_visits():
    with pytest.raises(ValueError):
        subtree_root(REFERENCE.get_node, 1, 3)
    with pytest.raises(ValueError):
        subtree_root(REFERENCE.get_node, 4, 4)
    assert subtree_root(REFERENCE.get_node, 4, 7) == rfc.mth(LEAVES[4:7])


def test_store_rejects_a_corrupt_node():
    with pytest.raises(ValueError):
        tree_root(lambda level, index: b"short", 1)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 13, 100, 255, 256, 257, 1000, 1023])
def test_reads_grow_with_log_of_size(size):
    store = CountingStore(store_of([i.to_bytes(4, "big") for i in range(size)]))
    budget = 2 * size.bit_length() + 2
    tree_root(store.get_node, size)
    assert store.reads <= size.bit_length()
    for index in {0, size // 3, size // 2, size - 1}:
        store.reads = 0
        inclusion_proof(store.get_node, index, size)
        assert store.reads <= budget
    for first in {1, size // 3, size // 2, size - 1} - {0}:
        store.reads = 0
        consistency_proof(store.get_node, first, size)
        assert store.reads <= budget


# --- properties against the RFC definition --------------------------------------------------

MAX_SIZE = 300
ALL_LEAVES = [b"leaf-%d" % i for i in range(MAX_SIZE)]
BIG_STORE = store_of(ALL_LEAVES)


@st.composite
def sizes_and_index(draw):
    size = draw(st.integers(1, MAX_SIZE))
    return size, draw(st.integers(0, size - 1))


@st.composite
def consistent_sizes(draw):
    second = draw(st.integers(1, MAX_SIZE))
    return draw(st.integers(1, second)), second


@settings(max_examples=60, deadline=None)
@given(st.integers(0, MAX_SIZE))
def test_root_equals_rfc_definition(size):
    assert tree_root(BIG_STORE.get_node, size) == rfc.mth(ALL_LEAVES[:size])


@settings(max_examples=60, deadline=None)
@given(sizes_and_index())
def test_inclusion_proof_equals_rfc_definition_and_verifies(case):
    size, index = case
    proof = inclusion_proof(BIG_STORE.get_node, index, size)
    assert proof == rfc.path(index, ALL_LEAVES[:size])
    verify_inclusion(index, size, leaf_hash(ALL_LEAVES[index]), proof, BIG_STORE.root(size))


@settings(max_examples=60, deadline=None)
@given(consistent_sizes())
def test_consistency_proof_equals_rfc_definition_and_verifies(case):
    first, second = case
    proof = consistency_proof(BIG_STORE.get_node, first, second)
    assert proof == rfc.consistency(first, second, ALL_LEAVES)
    verify_consistency(first, second, proof, BIG_STORE.root(first), BIG_STORE.root(second))


@settings(max_examples=100, deadline=None)
@given(sizes_and_index(), st.data())
def test_any_one_bit_flip_breaks_inclusion(case, data):
    size, index = case
    proof = inclusion_proof(BIG_STORE.get_node, index, size)
    pieces = [leaf_hash(ALL_LEAVES[index]), BIG_STORE.root(size), *proof]
    target = data.draw(st.integers(0, len(pieces) - 1))
    bit = data.draw(st.integers(0, 255))
    pieces[target] = rfc.flip_bit(pieces[target], bit // 8, 1 << (bit % 8))
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, pieces[0], pieces[2:], pieces[1])


@settings(max_examples=100, deadline=None)
@given(consistent_sizes(), st.data())
def test_any_one_bit_flip_breaks_consistency(case, data):
    first, second = case
    proof = consistency_proof(BIG_STORE.get_node, first, second)
    pieces = [BIG_STORE.root(first), BIG_STORE.root(second), *proof]
    target = data.draw(st.integers(0, len(pieces) - 1))
    bit = data.draw(st.integers(0, 255))
    pieces[target] = rfc.flip_bit(pieces[target], bit // 8, 1 << (bit % 8))
    with pytest.raises(RootMismatchError):
        verify_consistency(first, second, pieces[2:], pieces[0], pieces[1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_incremental_appends_match_rebuilding(leaves):
    store = MemoryNodeStore()
    for count, leaf in enumerate(leaves, start=1):
        store.append(leaf_hash(leaf))
        assert store.root() == rfc.mth(leaves[:count])
