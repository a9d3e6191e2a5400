"""Reading one host's chain from the store when its records arrived in reverse.

15,000 boots of one host, each after the one before it, are stored newest
first with no start times (a spool drained backwards, say), so the store must
reorder all of them. Baseline: the plain ``SELECT`` of the same rows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy as sa

from bench.timing import best_of
from kexec_lineage.fleet.schema import boots
from kexec_lineage.fleet.store import open_store
from kexec_lineage.model.boot import Boot
from kexec_lineage.model.wire import BootRecord

BOOTS = 15_000
RUNS = 3


def chain_in_reverse() -> list[Boot]:
    first = Boot("bench", "b-00000", "7.1.0", "cold")
    later = [
        Boot("bench", f"b-{n:05d}", "7.1.2", "kexec", "7.1.0", n, f"b-{n - 1:05d}")
        for n in range(1, BOOTS)
    ]
    return [first, *later][::-1]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "fleet.db"))
        store.ingest_boots([BootRecord(b) for b in chain_in_reverse()])

        def select() -> None:
            with store.engine.connect() as connection:
                connection.execute(sa.select(boots)).all()

        def chain() -> None:
            got = store.chain("bench")
            assert got[0].how == "cold" and len(got) == BOOTS

        (bare, _), (ordered, _) = best_of(RUNS, select), best_of(RUNS, chain)
        store.dispose()
    print(f"one host's chain of {BOOTS:,} boots stored in reverse (best of {RUNS})")
    print(f"{'':28}{'s':>8}{'x select':>10}")
    for name, seconds in (("SELECT the rows (baseline)", bare), ("Store.chain", ordered)):
        print(f"{name:28}{seconds:8.3f}{seconds / bare:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
