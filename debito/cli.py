"""`debito`: the command line of spec §9."""
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from common.config import SERVICES, amqp_uri, env, var_dir


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
@click.option("--first-debit-as-rcur", is_flag=True,
              help="send a mandate's first debit as RCUR, not FRST (banks accept it since 2016)")
def merchant_create(name, creditor_id, iban, bic, email, password, address, first_debit_as_rcur):
    """Create a merchant, its first user and an API key (printed once, as JSON)."""
    from common.errors import DebitoError
    from gateway.accounts import create_merchant
    from gateway.db import standalone_session

    with standalone_session() as session:
        try:
            merchant, api_key = create_merchant(session, name=name, creditor_id=creditor_id,
                                                iban=iban, bic=bic, email=email, password=password,
                                                address=address, first_debit_as_rcur=first_debit_as_rcur)
        except DebitoError as error:
            field = next(iter(error.fields), None)
            fail(f"{field}: {error.message}" if field else error.message)
        session.commit()
        click.echo(json.dumps({"merchant_id": merchant.id, "api_key": api_key, "name": merchant.name,
                               "creditor_id": merchant.creditor_id, "iban": merchant.iban,
                               "bic": merchant.bic, "email": merchant.email}, indent=2))
    try:
        sync_creditors([merchant.id])
    except Exception as error:  # the merchant exists; only its copy in payments waits
        click.echo(f"debito: warning: the payments service did not take the creditor ({error}); "
                   "run `debito merchant sync` once the cluster runs", err=True)


def sync_creditors(merchant_ids=None, timeout=15):
    """Give the payments service each merchant's creditor identity (it writes the bank files)."""
    from nameko.standalone.rpc import ClusterRpcProxy
    from sqlalchemy import select

    from gateway.accounts import creditor_profile
    from gateway.db import standalone_session
    from gateway.models import Merchant

    with standalone_session() as session:
        query = select(Merchant)
        if merchant_ids is not None:
            query = query.where(Merchant.id.in_(merchant_ids))
        profiles = [creditor_profile(m) for m in session.scalars(query)]
    with ClusterRpcProxy({"AMQP_URI": amqp_uri()}, timeout=timeout) as cluster:
        for profile in profiles:
            cluster.payments.register_creditor(profile["merchant_id"], profile)
    return len(profiles)


@merchant.command("sync")
def merchant_sync():
    """Send every merchant's creditor identity to the payments service again (idempotent)."""
    try:
        count = sync_creditors()
    except Exception as error:
        fail(f"the payments service did not answer: {error}")
    click.echo(json.dumps({"synced": count}))


@main.command("demo")
@click.option("--subscribers", default=300, show_default=True, type=click.IntRange(1, 5000))
@click.option("--months", default=6, show_default=True, type=click.IntRange(1, 24))
@click.option("--name", default="Club Sportif Lumière", show_default=True)
@click.option("--email", default=None, help="dashboard login (default: demo-<random>@debito.example)")
@click.option("--password", default=None, help="dashboard password (default: generated, printed)")
@click.option("--seed", default=None, type=int, help="the same seed makes the same people and plans")
def demo(subscribers, months, name, email, password, seed):
    """A new merchant with months of history made by the real collection cycle run over past days
    (the cluster's clock is walked from `--months` ago to today through DEBITO_CLOCK_FILE: run it
    against `debito run`, on a fresh install). Prints the JSON of `merchant create` plus the
    dashboard login; progress goes to stderr."""
    import secrets
    import time as _time

    from nameko.standalone.rpc import ClusterRpcProxy

    from common.errors import DebitoError
    from debito.demo import ClockNotShared, build_history, past_clock
    from gateway.accounts import create_merchant
    from gateway.db import standalone_session

    email = email or f"demo-{secrets.token_hex(4)}@debito.example"
    password = password or secrets.token_urlsafe(12)
    started = _time.monotonic()
    use_cluster_clock_file()
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri()}, timeout=600) as cluster, \
                past_clock(cluster, months) as (start, today):
            with standalone_session() as session:  # the merchant's history starts with it
                try:
                    merchant, api_key = create_merchant(
                        session, name=name, creditor_id="FR72ZZZ123456", iban="FR7630006000011234567890189",
                        bic=None, email=email, password=password, address="12 rue de la République, 69002 Lyon")
                except DebitoError as error:
                    field = next(iter(error.fields), None)
                    fail(f"{field}: {error.message}" if field else error.message)
                session.commit()
                out = {"merchant_id": merchant.id, "api_key": api_key, "name": merchant.name,
                       "creditor_id": merchant.creditor_id, "iban": merchant.iban, "bic": merchant.bic,
                       "email": merchant.email}
            sync_creditors([out["merchant_id"]])
            history = build_history(cluster, out["merchant_id"], subscribers, start, today, seed=seed)
    except ClockNotShared as error:
        fail(str(error))
    except Exception as error:
        fail(f"the cluster did not answer ({type(error).__name__}: {error}); is `debito run` running?")
    host, port = env("GATEWAY_HOST", "127.0.0.1"), env("GATEWAY_PORT", "8000")
    base = env("PUBLIC_URL") or f"http://{host}:{port}"
    out.update(dashboard_url=f"{base}/", login_email=email, login_password=password, history=dict(
        history, seconds=round(_time.monotonic() - started, 1)))
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))


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
    from common import redact
    from common.migrations import upgrade, OWNERS
    from debito.broker import broker_problem, unreachable_message
    from debito.supervisor import EmbeddedPostgres, Supervisor, cluster_children

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    redact.install()
    problem = broker_problem()
    if problem:
        fail(unreachable_message(amqp_uri(), problem))
    old = old_sqlite_files(var_dir())
    if old:
        fail(f"{var_dir()} holds the SQLite files of an older Debito ({', '.join(p.name for p in old)}), "
             f"which now keeps its data in PostgreSQL: remove them (rm {var_dir()}/*.db) to start fresh")
    stale = use_cluster_clock_file()  # before the supervisor copies the environment
    if stale.exists():  # a demo stopped half-way: back to the real time
        logging.getLogger("debito").warning("removing %s (%s): the cluster runs on the real time",
                                            stale, stale.read_text().strip())
        stale.unlink()
    supervisor = Supervisor(cluster_children(), database=None if env("DATABASE_URL") else EmbeddedPostgres())
    supervisor.start_database()  # DATABASE_URL names it from here on, for this process and the children
    try:
        for owner in OWNERS:
            upgrade(owner)
    except BaseException:
        supervisor.stop()
        raise
    empty = _no_merchant_yet()
    # from the first child on, SIGTERM and Ctrl-C stop them all (SIGINT too: a shell starts a
    # background job with it ignored, and Python then leaves it so)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        supervisor.start()
        threading.Thread(target=_after_start, args=(empty,), daemon=True).start()
        host, port = env("GATEWAY_HOST", "127.0.0.1"), env("GATEWAY_PORT", "8000")
        base = env("PUBLIC_URL") or f"http://{host}:{port}"
        click.echo(f"\nDebito is starting:\n  dashboard  {base}/\n  API        {base}/api/v1/"
                   f"  (OpenAPI: {base}/api/v1/openapi.json)\n  health     {base}/healthz\n"
                   "Press Ctrl-C to stop.\n")
        supervisor.watch()
    except KeyboardInterrupt:
        click.echo("stopping…")
        supervisor.stop()


def old_sqlite_files(folder):
    """The SQLite databases an older Debito left in `folder` (var/): one file per owner."""
    from common.migrations import OWNERS

    return [path for path in (Path(folder) / f"{owner}.db" for owner in OWNERS) if path.exists()]


def use_cluster_clock_file():
    """The one-machine cluster's movable clock (common/clock.py): `debito run` hands it to
    every child, `debito demo` walks it. Returns its path."""
    os.environ.setdefault("DEBITO_CLOCK_FILE", str(var_dir() / "clock"))
    return Path(os.environ["DEBITO_CLOCK_FILE"])


def _no_merchant_yet():
    from sqlalchemy import func, select

    from gateway.db import standalone_session
    from gateway.models import Merchant

    with standalone_session() as session:
        return session.scalar(select(func.count()).select_from(Merchant)) == 0


def _after_start(empty, attempts=30):
    """Once the services answer: make sure payments knows every merchant and, on an
    empty database, make a demo merchant so the first look at the dashboard is not empty."""
    for _ in range(attempts):
        try:
            sync_creditors()
            break
        except Exception:  # not up yet
            time.sleep(2)
    else:
        logging.getLogger("debito").warning("could not send the merchants to payments: "
                                            "run `debito merchant sync`")
        return
    if empty and env("DEBITO_DEMO", "1") != "0":
        _first_run_demo()


def _first_run_demo():
    log = logging.getLogger("debito")
    log.info("empty database: making a demo merchant with its history (DEBITO_DEMO=0 to skip)")
    from debito.supervisor import end_with_this_process

    # ended with `debito run`, even killed: it runs in this thread, which waits for it
    result = subprocess.run(
        [sys.executable, "-m", "debito", "demo", "--subscribers", env("DEMO_SUBSCRIBERS", "300"),
         "--months", env("DEMO_MONTHS", "6")], capture_output=True, text=True,
        preexec_fn=end_with_this_process())
    if result.returncode != 0:
        log.error("the demo could not be made: %s", result.stderr.strip().splitlines()[-1:])
        return
    demo = json.loads(result.stdout)
    click.echo(f"\nDemo merchant ready: {demo['dashboard_url']}\n"
               f"  demo login  {demo['login_email']}\n  password    {demo['login_password']}\n"
               f"  API key     {demo['api_key']}\n")


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


@main.group()
def reporting():
    """The reporting read models (overview counters, daily figures)."""


@reporting.command("rebuild")
def reporting_rebuild():
    """Recompute the reporting figures from every event it has stored."""
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy({"AMQP_URI": amqp_uri()}, timeout=600) as cluster:
        report = cluster.reporting.rebuild()
    click.echo(json.dumps(report, indent=2))


@main.group()
def bank():
    """The sandbox bank (spec §4): answer the outbox, import a bank file."""


@bank.command("run")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="answer what is due on or before this day (default: today)")
def bank_run(as_of):
    """Make the sandbox bank answer, into BANK_INBOX, what BANK_OUTBOX holds due that day."""
    from common import clock
    from sandbox_bank import inbox_dir, outbox_dir, state_file
    from sandbox_bank.bank import run as answer

    day = as_of.date() if as_of else clock.today()
    counts = answer(day, outbox_dir(), inbox_dir(), state_file())
    click.echo(json.dumps({"as_of": day.isoformat(), **counts}, indent=2))


@bank.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def bank_import(file):
    """Put a bank file (pain.002, camt.054) into BANK_INBOX and have the payments service import it."""
    import shutil
    import tempfile
    import uuid
    from pathlib import Path

    from nameko.standalone.rpc import ClusterRpcProxy

    from common import clock
    from sandbox_bank import inbox_dir

    inbox = inbox_dir()
    inbox.mkdir(parents=True, exist_ok=True)
    source = Path(file)
    target = inbox / f"import-{clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}-{source.name}"
    # Written beside its final name then renamed: the importer never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=inbox, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri()}, timeout=120) as cluster:
            answer = cluster.payments.import_inbox()
    except Exception as error:  # any failure: the file is safe in the inbox
        click.echo(f"debito: the payments service did not import it ({type(error).__name__}: {error}).\n"
                   f"The file is in the inbox as {target} and will be imported at the next cycle.",
                   err=True)
        sys.exit(1)
    click.echo(json.dumps(answer, indent=2, default=str))


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

