"""Alembic for every owner: one env.py body, one upgrade function.

Each owner keeps its revisions in `<owner dir>/migrations/versions/`; its
`env.py` is two lines calling `run_env` with its metadata.
"""
import importlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config

from common.database import ensure_schema, make_engine

OWNERS = ("gateway", "mandates", "plans", "payments", "signing", "reporting")


def migrations_dir(owner):
    package = importlib.import_module(owner)
    return Path(package.__file__).resolve().parent.parent / "migrations"


def alembic_config(owner, engine=None):
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(owner)))
    config.attributes["owner"] = owner
    config.attributes["engine"] = engine
    return config


def upgrade(owner, engine=None):
    """Apply every migration of `owner` to its database."""
    engine = engine or make_engine(owner)
    try:
        command.upgrade(alembic_config(owner, engine), "head")
    finally:
        engine.dispose()


def run_env(metadata):
    """The body of every migrations/env.py (online mode only)."""
    config = context.config
    owner = config.attributes["owner"]
    engine = config.attributes.get("engine") or make_engine(owner)
    with engine.begin() as connection:
        ensure_schema(connection, owner)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=owner,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
