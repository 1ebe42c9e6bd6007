"""The gateway's database session, one per request."""
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy.orm import sessionmaker

from common.database import make_engine


def db_session():
    if "db" not in g:
        g.db = current_app.extensions["debito.sessionmaker"]()
    return g.db


def close_db_session(_error=None):
    session = g.pop("db", None)
    if session is not None:
        session.close()


@contextmanager
def standalone_session():
    """A session on the gateway's database outside a request (the CLI)."""
    engine = make_engine("gateway")
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
    finally:
        session.close()
        engine.dispose()
