"""A service's log: a call's refusal (a DebitoError) in one INFO line, a fault with its
traceback; nameko's own loggers are kept by every config's LOGGING."""
import subprocess
import sys

import pytest
from nameko.rpc import Rpc

from common.config import ROOT, SERVICES, service_config_path
from common.errors import DebitoError

CONFIGURE_AND_LOG = """
import logging.config, sys
import nameko.containers  # its logger exists before the config, as under `nameko run`
from common.config import load_config
from common.errors import NotFound
logging.config.dictConfig(load_config(sys.argv[1])["LOGGING"])
log = logging.getLogger("nameko.containers")
for error in (NotFound("no mandate MDX", {}), KeyError("fault")):
    try:
        raise error
    except Exception as exc:
        if isinstance(exc, NotFound):
            log.warning("(expected) error handling worker %s: %s", "<worker>", exc, exc_info=True)
        else:
            log.exception("error handling worker %s: %s", "<worker>", exc)
"""


@pytest.mark.parametrize("path", [service_config_path(name) for name in SERVICES] + [ROOT / "deploy/scheduler.yml"],
                         ids=list(SERVICES) + ["scheduler"])
def test_a_refusal_is_one_info_line_and_a_fault_keeps_its_traceback(path):
    logged = subprocess.run([sys.executable, "-c", CONFIGURE_AND_LOG, str(path)], cwd=ROOT,
                            capture_output=True, text=True, check=True).stderr
    lines = logged.splitlines()
    refusal = [line for line in lines if "(expected)" in line]
    assert len(refusal) == 1 and " INFO nameko.containers: " in refusal[0] and "no mandate MDX" in refusal[0]
    assert [line for line in lines if " ERROR nameko.containers: error handling worker" in line]
    assert "KeyError: 'fault'" in logged and logged.count("Traceback") == 1, logged


def test_every_services_rpc_expects_debito_errors():
    from importlib import import_module

    for name in SERVICES:
        service = getattr(import_module(f"{name}.service"), f"{name.capitalize()}Service")
        entrypoints = [value for value in vars(service).values() if callable(value)]
        entrypoints += [value for value in vars(service.__mro__[1]).values() if callable(value)]
        found = [ext for fn in entrypoints for ext in getattr(fn, "nameko_entrypoints", ()) if isinstance(ext, Rpc)]
        assert found, name
        assert all(ext.expected_exceptions is DebitoError for ext in found), name
