"""
Merge
-----

How two reports of the same boot are merged, so that a later record with more
evidence (the agent's after a log ingest, say) enriches the stored boot
instead of duplicating it.
"""

from __future__ import annotations

from dataclasses import replace

from kexec_lineage.model.boot import Boot

__all__ = ("merge_boots",)


def merge_boots(stored: Boot, incoming: Boot) -> Boot | None:
    """``stored`` enriched by ``incoming``; ``None`` when nothing changes.

    The report with more evidence decides the reconciled fields; the other
    only fills what it left empty. Evidence and disagreements are united.
    """
    richer, poorer = (
        (incoming, stored) if len(incoming.evidence) > len(stored.evidence) else (stored, incoming)
    )
    evidence = richer.evidence + tuple(e for e in poorer.evidence if e not in richer.evidence)
    disagreements = richer.disagreements + tuple(
        d for d in poorer.disagreements if d not in richer.disagreements
    )
    merged = replace(
        richer,
        previous_release=richer.previous_release or poorer.previous_release,
        previous_boot_id=richer.previous_boot_id or poorer.previous_boot_id,
        machine_id=richer.machine_id or poorer.machine_id,
        evidence=evidence,
        disagreements=disagreements,
    )
    return None if merged == stored else merged
