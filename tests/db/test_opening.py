"""Opening a database: another application's file is refused before anything is written, two
processes may create one new database at once, and --db text with control characters is refused."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rfconsole.db import InvalidError, SchemaVersionError, Store, StoreError, resolve_db_url


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("tables", [["notes"], ["runs"], ["experiments", "settings"]])
def test_another_applications_database_is_refused_unchanged(tmp_path, tables):
    folder = tmp_path / "theirs"
    folder.mkdir()
    path = folder / "app.db"
    with sqlite3.connect(path) as conn:  # a rollback-journal database, as most applications keep
        for table in tables:
            conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, text TEXT)")
            conn.execute(f"INSERT INTO {table} (text) VALUES ('keep me')")
    conn.close()
    before = _snapshot(folder)
    with pytest.raises(SchemaVersionError) as refused:
        Store.open(str(path))
    assert refused.value.message == (
        f"The database at {path} was not made by rfconsole (it has no rfconsole_meta table); "
        f"point --db at another file.")
    assert _snapshot(folder) == before  # same bytes, and no -wal or -shm file beside it
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert names == set(tables)


@pytest.mark.sqlite_only
def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 10)
    before = _snapshot(tmp_path)
    with pytest.raises(StoreError) as refused:
        Store.open(str(path))
    assert refused.value.message == (
        f"Cannot open the database at {path}: file is not a database; check --db or RFCONSOLE_DB.")
    assert _snapshot(tmp_path) == before


def test_a_server_database_with_other_tables_is_refused(fresh_db_url):
    from sqlalchemy import create_engine

    raw = create_engine(fresh_db_url)
    with raw.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(SchemaVersionError, match="was not made by rfconsole"):
        Store.open(fresh_db_url)
    from sqlalchemy import inspect

    assert inspect(raw).get_table_names() == ["invoices"]
    raw.dispose()


_CREATE_MANY = r"""
import json, sys, time
from pathlib import Path
from rfconsole.db import Store, StoreError
me, folder, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
failures = []
for index in range(count):
    (folder / f"ready-{index}-{me}").touch()
    while len(list(folder.glob(f"ready-{index}-*"))) < 2:  # both processes reached this database
        time.sleep(0.0005)
    try:
        Store.open(str(folder / f"new-{index}.db")).close()
    except StoreError as exc:
        failures.append(exc.message)
print(json.dumps(failures))
"""


@pytest.mark.slow
@pytest.mark.sqlite_only
def test_two_processes_creating_one_new_database_both_succeed(tmp_path):
    count = 20
    processes = [
        subprocess.Popen([sys.executable, "-c", _CREATE_MANY, name, str(tmp_path), str(count)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    results = [process.communicate(timeout=240) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert json.loads(out) == []
    for index in range(count):
        store = Store.open(str(tmp_path / f"new-{index}.db"), create=False)
        store.close()


@pytest.mark.parametrize("value", ["runs\n.db", "a\tb.db", "x\x00.db", "postgresql://u:secret@h/db\nx",
                                   "r\runs.db"])
def test_db_text_with_control_characters_is_refused(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    for attempt in (lambda: resolve_db_url(value), lambda: Store.open(value)):
        with pytest.raises(InvalidError) as refused:
            attempt()
        assert refused.value.message == (
            "The database given with --db or RFCONSOLE_DB holds a control character (a line break, "
            "a tab or the like); give the path or URL on one line.")
        assert "secret" not in refused.value.message
    if "\x00" not in value:  # an environment variable cannot hold NUL
        monkeypatch.setenv("RFCONSOLE_DB", value)
        with pytest.raises(InvalidError):
            Store.open()
    assert list(tmp_path.iterdir()) == []  # no file was made under any name


@pytest.mark.slow
def test_serve_refuses_a_db_with_a_line_break_in_one_sentence(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rfconsole.console.cli", "serve", "--db", str(tmp_path / "a\nb.db"),
         "--port", "0"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1
    assert "holds a control character" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_threads_creating_one_new_database_all_succeed(fresh_db_url):
    """The same race within one process, on every backend (PostgreSQL included)."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def create() -> None:
        barrier.wait()
        try:
            Store.open(fresh_db_url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    Store.open(fresh_db_url, create=False).close()
