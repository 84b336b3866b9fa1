"""helpers.parallel.ordered_map: the same results, in the same order, in processes as in one."""

import operator

from helpers import parallel


def test_ordered_map_keeps_order_in_processes_and_in_one(monkeypatch):
    items = list(range(-20, 20))
    want = [operator.neg(i) for i in items]
    assert list(parallel.ordered_map(operator.neg, items)) == want  # fewer than PARALLEL_FROM: this process
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)
    assert list(parallel.ordered_map(operator.neg, items, workers=2, chunksize=3)) == want
    assert list(parallel.ordered_map(operator.neg, [], workers=2)) == []
