"""Finds the broker and the database server the suite needs, or starts them
with testcontainers where Docker exists, or says exactly what is missing."""
import os
import shutil
import socket
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest
import requests


def _reachable(host, port, timeout=2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Infrastructure:
    def __init__(self, amqp_uri, rabbit_api_uri, postgres_url, containers=()):
        self.amqp_uri = amqp_uri
        self.rabbit_api_uri = rabbit_api_uri
        self.postgres_url = postgres_url
        self._containers = list(containers)

    @classmethod
    def find(cls, config):
        amqp_uri = config.getoption("RABBIT_AMQP_URI").replace("pyamqp://", "amqp://")
        api_uri = config.getoption("RABBIT_API_URI")
        postgres_url = os.environ.get("TEST_DATABASE_URL",
                                      "postgresql://postgres@127.0.0.1:5432/postgres")
        missing = cls._missing(amqp_uri, api_uri, postgres_url)
        if not missing:
            return cls(amqp_uri, api_uri, postgres_url)
        if shutil.which("docker") and _docker_engine_answers():
            return cls._from_testcontainers()
        pytest.exit("The test suite needs these and could not reach them:\n  - "
                    + "\n  - ".join(missing)
                    + "\nStart them (RabbitMQ with its management plugin: "
                    "`rabbitmq-plugins enable rabbitmq_management`), set AMQP_URI / "
                    "RABBIT_API_URI / TEST_DATABASE_URL, or run where Docker is available.",
                    returncode=3)

    @staticmethod
    def _missing(amqp_uri, api_uri, postgres_url):
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
        try:
            psycopg2.connect(postgres_url, connect_timeout=3).close()
        except psycopg2.Error as error:
            missing.append(f"PostgreSQL at {postgres_url} (TEST_DATABASE_URL): {str(error).strip()}")
        return missing

    @classmethod
    def _from_testcontainers(cls):  # pragma: no cover - only where Docker runs
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        postgres = PostgresContainer("postgres:16").start()
        rabbit = RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(5672, 15672).start()
        host = rabbit.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{rabbit.get_exposed_port(5672)}/"
        api = f"http://guest:guest@{host}:{rabbit.get_exposed_port(15672)}"
        url = postgres.get_connection_url().replace("postgresql+psycopg2", "postgresql")
        return cls(amqp, api, url, containers=[postgres, rabbit])

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


def _docker_engine_answers():
    import subprocess

    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
