"""The collector's request models and :mod:`kexec_lineage.model.wire` are one
schema: the same fields, and a record survives the trip through the API model
unchanged (the crash flags the API once dropped included)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kexec_lineage.fleet.schema import boots, crashes
from kexec_lineage.fleet.store import boot_row, crash_row
from kexec_lineage.model.boot import Boot, Evidence
from kexec_lineage.model.crash import Crash
from kexec_lineage.model.wire import (
    BOOT_FIELDS,
    CRASH_FIELDS,
    EVIDENCE_FIELDS,
    BootRecord,
    CrashRecord,
)
from kexec_lineage.server.api_models import (
    BOOTS,
    CRASHES,
    Body,
    BootIn,
    CrashIn,
    EvidenceIn,
    Record,
)

BOOT = BootRecord(
    Boot(
        "web-1",
        "b-2",
        "7.3.4",
        "kexec",
        "7.2.13",
        2,
        "b-1",
        "m" * 32,
        (Evidence("kho", True, "7.2.13", 2, None, "exec from: 7.2.13 (count 2)"),),
        ("cmdline says count 3, kho says 2",),
    ),
    started_at=1_760_000_000.0,
    hours=12.5,
)


def _through(body: Body[Record], record: Record) -> Record:
    """``record`` sent as the body of one record, as the collector reads it."""
    (again,) = body.records(body.adapter.validate_json(json.dumps({body.key: [record.as_dict()]})))
    return again


def test_api_models_have_the_wire_fields() -> None:
    assert set(BootIn.__annotations__) == set(BOOT_FIELDS)
    assert set(EvidenceIn.__annotations__) == set(EVIDENCE_FIELDS)
    assert set(CrashIn.__annotations__) == set(CRASH_FIELDS)


def test_store_rows_have_a_column_for_every_wire_field() -> None:
    crash = CrashRecord("web-1", "b-2", Crash("BUG: x"), "pstore", "7.3.4")
    boot_columns = {c.name for c in boots.columns}
    crash_columns = {c.name for c in crashes.columns}
    assert set(boot_row(BOOT, 1, 0.0)) <= boot_columns
    assert set(crash_row(crash, (1, "b-2", crash.fingerprint), 0.0)) <= crash_columns
    assert set(CRASH_FIELDS) - {"host"} <= crash_columns


def test_a_boot_survives_the_api_model() -> None:
    assert _through(BOOTS, BOOT) == BOOT
    unknown = BootRecord(BOOT.boot)
    assert "hours" not in unknown.as_dict()
    assert _through(BOOTS, unknown) == unknown


titles = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)


@given(
    title=titles,
    corrupted_reason=st.sampled_from(["", "no frames", "report terminated abruptly"]),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    alt=st.lists(titles, max_size=3),
)
def test_a_crash_survives_the_api_model(
    title: str, corrupted_reason: str, flags: tuple[bool, bool, bool], alt: list[str]
) -> None:
    corrupted, suppressed, panicked = flags
    crash = Crash(
        title,
        tuple(alt),
        "BUG",
        "do_thing",
        corrupted,
        corrupted_reason,
        suppressed,
        panicked,
        "report text",
    )
    record = CrashRecord("web-1", "b-2", crash, "pstore", "7.3.4")
    again = _through(CRASHES, record)
    assert again == record
    assert again.fingerprint == record.fingerprint
