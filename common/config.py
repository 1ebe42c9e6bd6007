"""Configuration: nameko-style YAML with ${ENV:default} substitution, and the
few settings every part of Debito reads from the environment (spec §9)."""
import os
from pathlib import Path

import yaml

SERVICES = ("mandates", "plans", "payments", "signing", "reporting")
ROOT = Path(__file__).resolve().parent.parent

DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"


def env(name, default=None):
    """An environment variable; empty counts as unset (compose passes empty strings)."""
    value = os.environ.get(name)
    return default if value in (None, "") else value


def amqp_uri():
    return env("AMQP_URI", DEFAULT_AMQP_URI)


def var_dir():
    """Where a one-machine run keeps its embedded PostgreSQL (postgres/), bank folders and outboxes."""
    return Path(env("DEBITO_VAR", ROOT / "var")).resolve()


def load_config(path):
    """Load a nameko config file the way `nameko run --config` does."""
    from nameko.cli.main import setup_yaml_parser

    setup_yaml_parser()
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def service_config_path(service):
    return ROOT / "services" / service / "config.yml"


def database_url(owner):
    """The PostgreSQL database of one owner (a service or the gateway).

    `<OWNER>_DATABASE_URL` wins; else `DATABASE_URL`, where each owner gets its
    own schema (see `common.database.make_engine`); else the embedded
    PostgreSQL whose data lives in var/postgres/ (`common.database.embedded_server`),
    started if it is not running.
    """
    own = env(f"{owner.upper()}_DATABASE_URL")
    if own:
        return own
    shared = env("DATABASE_URL")
    if shared:
        return shared
    from common.database import embedded_server

    return embedded_server().get_uri()
