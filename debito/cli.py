"""`debito`: the command line of spec §9."""
import json
import logging
import os
import signal
import sys

import click

from common.config import SERVICES, amqp_uri, env


def fail(message):
    click.echo(f"debito: {message}", err=True)
    sys.exit(2)


@click.group()
def main():
    """Debito: SEPA Direct Debit management."""


@main.group()
def merchant():
    """Merchants: the companies that collect with Debito."""


@merchant.command("create")
@click.option("--name", required=True)
@click.option("--creditor-id", required=True, help="SEPA creditor identifier (ICS), e.g. FR72ZZZ123456")
@click.option("--iban", required=True, help="the merchant's own account, credited by collections")
@click.option("--bic", default=None)
@click.option("--email", required=True, help="login of the first dashboard user")
@click.option("--password", required=True, help="password of the first dashboard user")
@click.option("--address", default=None, help="postal address, printed on mandates")
def merchant_create(name, creditor_id, iban, bic, email, password, address):
    """Create a merchant, its first user and an API key (printed once, as JSON)."""
    from common.errors import DebitoError
    from gateway.accounts import create_merchant
    from gateway.db import standalone_session

    with standalone_session() as session:
        try:
            merchant, api_key = create_merchant(session, name=name, creditor_id=creditor_id,
                                                iban=iban, bic=bic, email=email, password=password,
                                                address=address)
        except DebitoError as error:
            field = next(iter(error.fields), None)
            fail(f"{field}: {error.message}" if field else error.message)
        session.commit()
        click.echo(json.dumps({"merchant_id": merchant.id, "api_key": api_key, "name": merchant.name,
                               "creditor_id": merchant.creditor_id, "iban": merchant.iban,
                               "bic": merchant.bic, "email": merchant.email}, indent=2))


@main.command()
@click.argument("owners", nargs=-1)
def migrate(owners):
    """Apply the database migrations of every service and the gateway (or those named)."""
    from common.migrations import OWNERS, upgrade

    for owner in owners or OWNERS:
        if owner not in OWNERS:
            fail(f"unknown owner {owner!r}: one of {', '.join(OWNERS)}")
        upgrade(owner)
        click.echo(f"migrated {owner}")


@main.command()
def run():
    """Start everything on this machine (what `make run` calls); Ctrl-C stops it."""
    from common.migrations import upgrade, OWNERS
    from debito.broker import broker_problem, unreachable_message
    from debito.supervisor import Supervisor, cluster_children

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    problem = broker_problem()
    if problem:
        fail(unreachable_message(amqp_uri(), problem))
    for owner in OWNERS:
        upgrade(owner)
    supervisor = Supervisor(cluster_children())
    supervisor.start()
    host, port = env("GATEWAY_HOST", "127.0.0.1"), env("GATEWAY_PORT", "8000")
    base = env("PUBLIC_URL") or f"http://{host}:{port}"
    click.echo(f"\nDebito is starting:\n  dashboard  {base}/\n  API        {base}/api/v1/"
               f"  (OpenAPI: {base}/api/v1/openapi.json)\n  health     {base}/healthz\n"
               "Press Ctrl-C to stop.\n")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        supervisor.watch()
    except KeyboardInterrupt:
        click.echo("stopping…")
        supervisor.stop()


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


@main.command("collect")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="run the daily cycle for this day (default: today)")
def collect(as_of):
    """Run the daily cycle (dormancy, pre-notification, submission, bank import) for a day."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from common import clock
    from debito.cycle import run_cycle

    day = as_of.date() if as_of else clock.today()
    with ClusterRpcProxy({"AMQP_URI": amqp_uri()}, timeout=600) as cluster:
        report = run_cycle(cluster, day)
    click.echo(json.dumps({"as_of": day.isoformat(), "steps": report}, indent=2))


@main.command("service")
@click.argument("name", type=click.Choice(SERVICES + ("scheduler",)))
def service(name):
    """Run one service in the foreground (what a container runs)."""
    from debito.supervisor import cluster_children, service_argv

    argv = service_argv(name) if name != "scheduler" else next(
        c.argv for c in cluster_children() if c.name == "scheduler")
    os.execv(argv[0], argv)


@main.command("gateway")
def gateway():
    """Run the gateway (dashboard and API) in the foreground."""
    os.execv(sys.executable, [sys.executable, "-m", "debito.gateway_server"])

