"""docker-compose.yml and deploy/entrypoint.sh, checked without a Docker engine
(none runs on the development machines: see deploy/README.md)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"

SERVICES = ("mandates", "plans", "payments", "signing", "reporting")
LONG_RUNNING = SERVICES + ("scheduler", "gateway")
SPEC_ENVIRONMENT = (
    "AMQP_URI", "DATABASE_URL", "PUBLIC_URL", "SECRET_KEY", "BANK_OUTBOX", "BANK_INBOX",
    "SMTP_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "DEBITO_VAR",
)


@pytest.fixture(scope="module")
def services():
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def words(command):
    return command.split() if isinstance(command, str) else list(command)


def environment(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return env


def volume_mounts(service):
    return [volume if isinstance(volume, str) else f"{volume['source']}:{volume['target']}"
            for volume in service.get("volumes", [])]


def test_no_service_pins_a_container_name_so_any_can_be_scaled(services):
    assert [name for name, service in services.items() if "container_name" in service] == []


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_each_part_runs_its_own_role_and_is_restarted(services, name):
    assert words(services[name]["command"]) == [name]
    assert services[name]["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_each_part_waits_for_a_healthy_broker_and_database_and_applied_migrations(services, name):
    depends_on = services[name]["depends_on"]
    assert depends_on["rabbitmq"]["condition"] == "service_healthy"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_migrations_run_once_in_a_one_shot_service(services):
    migrate = services["migrate"]
    assert words(migrate["command"]) == ["migrate"]
    assert migrate.get("restart", "no") == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_broker_and_database_report_their_health(services):
    assert "rabbitmq-diagnostics" in words(services["rabbitmq"]["healthcheck"]["test"])
    assert "pg_isready" in words(services["postgres"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", LONG_RUNNING + ("migrate",))
def test_every_debito_container_runs_an_image_of_the_dockerfile_with_the_configuration_of_spec_9(services, name):
    service = services[name]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    env = environment(service)
    assert [variable for variable in SPEC_ENVIRONMENT if variable not in env] == []
    assert env["DATABASE_URL"] == "postgresql://debito:debito@postgres:5432/debito"
    assert f"var:{env['DEBITO_VAR']}" in volume_mounts(service)


def test_the_secret_key_must_be_given_by_the_operator(services):
    assert environment(services["gateway"])["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_payments_exchanges_files_with_the_bank_on_the_bank_volume(services):
    env = environment(services["payments"])
    mounts = dict(mount.split(":", 1)[::-1] for mount in volume_mounts(services["payments"]))
    bank_folders = [target for target, source in mounts.items() if source == "bank"]
    assert len(bank_folders) == 1
    assert env["BANK_OUTBOX"].startswith(bank_folders[0] + "/")
    assert env["BANK_INBOX"].startswith(bank_folders[0] + "/")


def test_the_gateway_listens_on_all_interfaces_and_publishes_port_8000(services):
    gateway = services["gateway"]
    assert environment(gateway)["GATEWAY_HOST"] == "0.0.0.0"
    assert "8000:8000" in [str(port) for port in gateway["ports"]]
    assert "/healthz" in " ".join(words(gateway["healthcheck"]["test"]))


@pytest.fixture
def fake_debito(tmp_path):
    """A `debito` on PATH that records its arguments instead of running."""
    record = tmp_path / "calls"
    script = tmp_path / "bin" / "debito"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho "$*" >> "$RECORD"\n')
    script.chmod(0o755)
    env = {"PATH": f"{script.parent}:/usr/bin:/bin", "RECORD": str(record)}

    def run(*args, **extra_env):
        result = subprocess.run(["sh", str(ENTRYPOINT), *args], env={**env, **extra_env},
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        calls = record.read_text().splitlines() if record.exists() else []
        return calls, result.stdout

    return run


@pytest.mark.parametrize("args, calls", [
    (("migrate",), ["migrate"]),
    (("migrate", "payments"), ["migrate payments"]),
    (("gateway",), ["gateway"]),
    ((), ["gateway"]),
    *[((name,), [f"service {name}"]) for name in SERVICES + ("scheduler",)],
    (("debito", "merchant", "create", "--name", "Acme"), ["merchant create --name Acme"]),
])
def test_the_entrypoint_runs_the_debito_command_of_each_role(fake_debito, args, calls):
    assert fake_debito(*args)[0] == calls


def test_a_lone_gateway_container_can_migrate_its_own_schema_before_it_starts(fake_debito):
    """Its own only: the gateway's image holds no service's migrations."""
    assert fake_debito("gateway", DEBITO_MIGRATE="1")[0] == ["migrate gateway", "gateway"]


def test_the_entrypoint_runs_any_other_command_as_given(fake_debito):
    calls, output = fake_debito("echo", "hello")
    assert (calls, output) == ([], "hello\n")


def compose_command():
    """`docker compose` (v2), as a plugin or standalone; None when neither is here."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if not shutil.which(command[0]):
            continue
        version = subprocess.run([*command, "version"], capture_output=True, text=True)
        if version.returncode == 0 and " v2." in version.stdout:
            return command
    return None


@pytest.mark.skipif(compose_command() is None, reason="no Docker Compose v2 CLI on this machine")
def test_docker_compose_accepts_the_file_and_requires_a_secret_key(tmp_path):
    command = [*compose_command(), "--env-file", str(tmp_path / "empty.env"), "-f", str(COMPOSE_FILE),
               "config", "-q"]
    (tmp_path / "empty.env").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    without_key = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert without_key.returncode != 0 and "SECRET_KEY" in without_key.stderr
    with_key = subprocess.run(command, env={**env, "SECRET_KEY": "test"}, capture_output=True,
                              text=True, timeout=60)
    assert with_key.returncode == 0, with_key.stderr


# --- the images: the gateway's holds no services' code --------------------------

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SERVICE_PACKAGES = SERVICES + ("sandbox_bank",)


def dockerfile_stages():
    """{stage: {"from": its base, "copy": [(sources, destination), ...]}} of deploy/Dockerfile,
    its instructions read with their continuation lines joined."""
    stages, stage = {}, None
    for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines():
        instruction = line.split()
        if not instruction or instruction[0].startswith("#"):
            continue
        if instruction[0] == "FROM":
            stage = instruction[3] if len(instruction) > 3 and instruction[2].upper() == "AS" else instruction[1]
            stages[stage] = {"from": instruction[1], "copy": []}
        elif instruction[0] == "COPY":
            assert not instruction[1].startswith("--"), "a COPY --from or --chown: read it here too"
            stages[stage]["copy"].append((instruction[1:-1], instruction[-1]))
    return stages


def stage_copies(stages, name):
    """The COPY instructions a stage runs: its bases' first."""
    base = stages[name]["from"]
    return (stage_copies(stages, base) if base in stages else []) + stages[name]["copy"]


def test_the_gateway_runs_its_own_image_and_the_other_parts_the_services_one(services):
    assert services["gateway"]["build"]["target"] == "gateway"
    others = [name for name in services if name not in ("gateway", "rabbitmq", "postgres")]
    assert {services[name]["build"]["target"] for name in others} == {"services"}
    assert {services[name]["image"] for name in others} == {services["migrate"]["image"]}
    assert services["gateway"]["image"] != services["migrate"]["image"]
    assert set(dockerfile_stages()) >= {"gateway", "services"}


def test_the_gateway_stage_copies_no_service():
    sources = [source for sources, _ in stage_copies(dockerfile_stages(), "gateway") for source in sources]
    assert "." not in sources
    assert [source for source in sources if source.startswith(("services", "deploy/sandbox_bank"))] == []


def dockerignored(path):
    """What .dockerignore keeps out of the build context (its patterns as fnmatch reads them)."""
    import fnmatch

    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    parts = path.relative_to(ROOT).parts
    return any(fnmatch.fnmatch(part, pattern.removeprefix("**/")) for pattern in patterns for part in parts)


def gateway_file_set(target):
    """The files the gateway stage copies into /app, copied under `target` as Docker would."""
    for sources, destination in stage_copies(dockerfile_stages(), "gateway"):
        for source in sources:
            origin = ROOT / source
            files = [origin] if origin.is_file() else [p for p in origin.rglob("*") if p.is_file()]
            for path in files:
                if dockerignored(path):
                    continue
                if origin.is_file():
                    into = target / (destination + path.name if destination.endswith("/") else destination)
                else:
                    into = target / destination / path.relative_to(origin)
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, into)


IMPORT_THE_GATEWAY = """
import importlib, importlib.util, pkgutil, sys
import gateway, gateway.app
for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
    importlib.import_module(module.name)
import debito.cli
app = gateway.app.create_app()
assert app.test_client().get("/api/v1/openapi.json").status_code == 200
assert app.test_client().get("/login").status_code == 200
print(gateway.__file__)
print(",".join(sorted(name for name in sys.argv[1].split(",") if importlib.util.find_spec(name) is not None)))
"""


def test_the_gateways_file_set_installs_and_runs_the_gateway_without_any_services_code(tmp_path):
    """The gateway stage's files, copied as its COPY instructions copy them and installed as it
    installs them (`pip install --no-deps -e .`: setup.py installs the packages the tree holds)
    in a fresh virtual environment, which finds the third-party packages in this one's
    site-packages (a path in a .pth file: after its own, and without this checkout's editable
    install): every gateway module imports, its app answers the OpenAPI document and a
    dashboard page, and no service package is found."""
    import sysconfig

    app, venv = tmp_path / "app", tmp_path / "venv"
    gateway_file_set(app)
    assert not (app / "services").exists() and not (app / "deploy" / "sandbox_bank").exists()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SECRET_KEY": "test", "DEBITO_VAR": str(tmp_path / "var"),
           "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/gateway"}  # never reached
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--no-compile", "-e", "."], cwd=app, env=env, capture_output=True, text=True,
                             timeout=300)
    assert install.returncode == 0, install.stderr
    run = subprocess.run([python, "-c", IMPORT_THE_GATEWAY, ",".join(SERVICE_PACKAGES)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    gateway_file, found = run.stdout.splitlines()[-2:]
    assert gateway_file == str(app / "gateway" / "gateway" / "__init__.py")
    assert found == ""
