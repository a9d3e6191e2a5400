"""The dashboard's analysis is refreshed in the background: readers never wait for it."""

from __future__ import annotations

import threading
import time

from kexec_lineage.fleet.store import Store
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.wire import BootRecord
from kexec_lineage.server.dashboard import AnalysisCache, _Computed


class HeldRefresh(AnalysisCache):
    """Every computation after the first waits until the test lets it go."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, max_age=0.0)
        self.go = threading.Event()
        self.computed = 0

    def _compute(self) -> _Computed:
        if self.computed:
            assert self.go.wait(30)
        self.computed += 1
        return super()._compute()


def boots(store: Store, n: int) -> None:
    store.ingest_boots(
        [BootRecord(Boot("web-1", f"b-{n}-{i}", "7.1.0", "cold"), hours=1.0) for i in range(3)]
    )


def test_readers_get_the_last_analysis_while_it_is_recomputed(store: Store) -> None:
    boots(store, 1)
    cache = HeldRefresh(store)
    first = cache.get()
    assert sum(t.boots for t in first.analysis.transitions) == 3
    boots(store, 2)
    # The refresh is held: 50 readers still get the last result, none waits.
    answers: list[_Computed] = []
    readers = [threading.Thread(target=lambda: answers.append(cache.get())) for _ in range(50)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(10)
    assert len(answers) == 50 and all(a is first for a in answers)
    assert cache.computed == 1  # one refresh started, held
    cache.max_age = 3600.0  # no more refreshes after the one held
    cache.go.set()
    deadline = time.monotonic() + 30
    while cache.get() is first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(t.boots for t in cache.get().analysis.transitions) == 6
    assert cache.computed == 2
