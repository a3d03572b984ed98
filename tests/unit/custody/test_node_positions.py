"""Where the ledger stores a node (`node_position`): written order, and the stray-node range."""
from custody.models import NODE_LEVELS, node_position
from custody.ledger.merkle import completed_subtrees


def test_node_positions_follow_the_order_nodes_are_written():
    """Every append's nodes come after all earlier nodes, next to each other; positions never collide."""
    nodes: dict[tuple[int, int], bytes] = {}
    last, seen = -1, set()
    for index in range(300):
        written = completed_subtrees(index, index.to_bytes(32, "big"), lambda lv, i: nodes[(lv, i)])
        positions = [node_position(level, i) for level, i, _h in written]
        assert positions == list(range(index * NODE_LEVELS, index * NODE_LEVELS + len(written)))
        assert positions[0] > last and not seen & set(positions)
        last, seen = positions[-1], seen | set(positions)
        nodes.update(((level, i), digest) for level, i, digest in written)


def test_a_node_is_past_a_log_exactly_when_its_position_is():
    """The stray-node check's range query: covers leaves >= size  <=>  position >= size * 64."""
    for size in range(0, 70):
        for level in range(8):
            for index in range(70 >> level):
                past = ((index + 1) << level) > size
                assert (node_position(level, index) >= size * NODE_LEVELS) == past, (size, level, index)
