"""`token create/list/revoke` on a real SQLite database, one host and a fleet at a time."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

import pytest

from kexec_lineage.fleet.store import open_store
from tests.collector import kexec_lineage, run_cli


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "1 to 255 characters"),
        ("h" * 256, "1 to 255 characters"),
        ("rack1/web-1", "no '/'"),
        ("..", "not '.' or '..'"),
    ],
)
def test_a_host_name_the_api_refuses_makes_no_token(tmp_path: Path, name: str, why: str) -> None:
    db = tmp_path / "fleet.db"
    result = run_cli("token", "create", "--db", db, "--host", name)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and why in result.stderr
    assert open_store(str(db)).list_tokens() == []


def test_list_shows_tokens_but_never_a_token(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    host = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()[-1]
    read = kexec_lineage("token", "create", "--db", db, "--read").splitlines()[-1]
    out = kexec_lineage("token", "list", "--db", db)
    lines = out.splitlines()
    assert lines[0].split() == ["id", "kind", "host", "created", "(UTC)"]
    assert [line.split()[:3] for line in lines[1:]] == [["1", "host", "web-1"], ["2", "read", "-"]]
    listed = json.loads(kexec_lineage("token", "list", "--db", db, "--json"))["tokens"]
    assert [(t["id"], t["kind"], t["host"]) for t in listed] == [
        (1, "host", "web-1"),
        (2, "read", None),
    ]
    for text in (out, json.dumps(listed)):
        assert host not in text and read not in text


def test_revoked_tokens_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    first = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()[-1]
    second = kexec_lineage("token", "create", "--db", db, "--host", "web-1").splitlines()[-1]
    other = kexec_lineage("token", "create", "--db", db, "--host", "web-2").splitlines()[-1]
    assert kexec_lineage("token", "revoke", "--db", db, "--id", "1") == "revoked 1 token\n"
    store = open_store(str(db))
    assert store.check_token(first) is None and store.check_token(second) is not None
    assert kexec_lineage("token", "revoke", "--db", db, "--host", "web-1") == "revoked 1 token\n"
    assert store.check_token(second) is None and store.check_token(other) is not None
    again = run_cli("token", "revoke", "--db", db, "--id", "1")
    assert again.returncode == 2 and "no such token" in again.stderr


def test_a_fleet_enrols_in_one_call(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    hosts = [f"web-{n:04d}" for n in range(2000)]
    (tmp_path / "hosts").write_text("\n".join(hosts) + "\n\n")
    out = kexec_lineage("token", "create", "--db", db, "--hosts-file", tmp_path / "hosts")
    made = list(csv.DictReader(io.StringIO(out)))
    assert [row["host"] for row in made] == hosts
    store = open_store(str(db))
    for row in made:
        info = store.check_token(row["token"])
        assert info is not None and (info.kind, info.host) == ("host", row["host"])
    # A file per host, readable by root alone, each taken by `ship --token-file`.
    out_dir = tmp_path / "tokens"
    few = tmp_path / "few"
    few.write_text("db-1\ndb-2\n")
    argv = ("token", "create", "--db", db, "--hosts-file", few, "--out-dir", out_dir)
    kexec_lineage(*argv)
    for host in ("db-1", "db-2"):
        path = out_dir / host
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        info = store.check_token(path.read_text().strip())
        assert info is not None and info.host == host
    # Run again: the files are there, so nothing is made and nothing overwritten.
    before = len(store.list_tokens())
    result = run_cli(*argv)
    assert result.returncode == 2 and "exists" in result.stderr
    assert len(store.list_tokens()) == before


def test_a_bad_hosts_file_makes_no_token(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    for text, why in (("a\nb\na\n", "given twice"), ("a\nb/c\n", "no '/'")):
        (tmp_path / "hosts").write_text(text)
        result = run_cli("token", "create", "--db", db, "--hosts-file", tmp_path / "hosts")
        assert result.returncode == 2 and why in result.stderr
    assert open_store(str(db)).list_tokens() == []
