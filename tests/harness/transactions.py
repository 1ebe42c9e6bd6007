"""The rule tests' PostgreSQL: one database of the suite's own whose owners' schemas are
migrated by Alembic on first use (as in production), and per test a session in one
transaction that is rolled back at the end. The code under test may commit: its commits
end SAVEPOINTs inside that transaction (SQLAlchemy's join_transaction_mode)."""
from contextlib import ExitStack, contextmanager

from sqlalchemy.orm import Session

from common.database import make_engine
from common.migrations import upgrade


class MigratedDatabase:
    def __init__(self, url):
        self.url = url
        self._engines = {}

    def engine(self, owner):
        """The engine of `owner`'s schema, migrated to head the first time it is asked for."""
        if owner not in self._engines:
            upgrade(owner, make_engine(owner, self.url))
            self._engines[owner] = make_engine(owner, self.url)
        return self._engines[owner]

    def close(self):
        for engine in self._engines.values():
            engine.dispose()


@contextmanager
def rolled_back(engine, **options):
    """A session on one connection whose transaction is rolled back when the block ends."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", **options)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


class Sessions:
    """`db_session(owner, **options)`: a rolled-back session on `owner`'s schema (see the module)."""

    def __init__(self, database):
        self.database = database
        self._stack = ExitStack()

    def __call__(self, owner, **options):
        return self._stack.enter_context(rolled_back(self.database.engine(owner), **options))

    def close(self):
        self._stack.close()
