"""IBANs masked in logs (issue 9): the filter masks them as the lists do, in the message, its
arguments and the traceback, compact, grouped, lower case or URL-encoded; ids and other
numbers stay readable; every process's logging configuration installs it."""
import io
import logging
import subprocess
import sys

import pytest

from common.config import ROOT, SERVICES, service_config_path
from common.redact import IbanFilter, install, redact
from common.sepa import mask_iban

IBAN = "FR7630006000011234567890189"
MASKED = mask_iban(IBAN)  # FR76 **** **** **** **** ***0 189
GERMAN = "DE89370400440532013000"


@pytest.mark.parametrize("written", [
    IBAN, "FR76 3000 6000 0112 3456 7890 189", IBAN.lower(), "FR76+3000+6000+0112+3456+7890+189",
    "FR76%203000%206000%200112%203456%207890%20189",
])
def test_an_iban_however_written_is_masked_like_the_lists_mask_it(written):
    assert redact(f"sign refused for {written}: wrong code") == f"sign refused for {MASKED}: wrong code"


def test_every_iban_of_a_text_is_masked_and_the_rest_kept():
    text = f"?iban={IBAN}&other={GERMAN}, 'iban': '{IBAN}'"
    assert redact(text) == f"?iban={MASKED}&other={mask_iban(GERMAN)}, 'iban': '{MASKED}'"
    assert IBAN not in redact(text) and "0532013000" not in redact(text)


@pytest.mark.parametrize("text", [
    "no plan MD01JX4K8Q2W3E5R7T9Y1U3I",  # not Crockford: not an id, but MD is 24 long: masked below
    "mandate MD01JX4K8Q2W3E5R7T9Y1V3N, payment PM01JX4K8Q2W3E5R7T9Y1V3N",
    "DBT-20261125-7K3QX9PM2A", "amount 123456789012345678901234567", "FR76 is the check", "FR7630006",
    "BNPAFRPPXXX", "+33612345678",
])
def test_ids_references_and_other_numbers_stay_readable(text):
    if text.startswith("no plan"):
        assert "MD01 ****" in redact(text)  # a Moldovan IBAN's shape, and not an id's: masked
    else:
        assert redact(text) == text


def test_an_id_whose_check_digits_hold_is_masked_rather_than_risk_an_iban():
    body = "JX4K8Q2W3E5R7T9Y1V3N"
    held = next(f"MD{d:02d}{body}" for d in range(100) if _mod97(f"MD{d:02d}{body}"))
    assert redact(held) != held


def _mod97(compact):
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def logged(configure):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test.redact.{id(stream)}")
    logger.propagate, logger.handlers = False, [handler]
    logger.setLevel(logging.DEBUG)
    configure(logger, handler)
    return logger, stream


def test_the_filter_masks_the_message_its_arguments_and_the_traceback():
    logger, stream = logged(lambda logger, handler: handler.addFilter(IbanFilter()))
    logger.warning("amend %s to %s", "MD01JX4K8Q2W3E5R7T9Y1V3N", IBAN)
    logger.info(f"query ?iban={GERMAN}&x=%s")  # a literal % left as it is
    try:
        raise ValueError(f"(psycopg2.DataError) [parameters: {{'iban': '{IBAN}'}}]")
    except ValueError:
        logger.exception("sign_mandate failed for %s", {"iban": IBAN.lower()})
    out = stream.getvalue()
    assert IBAN not in out and IBAN.lower() not in out and GERMAN not in out
    assert f"amend MD01JX4K8Q2W3E5R7T9Y1V3N to {MASKED}" in out
    assert f"query ?iban={mask_iban(GERMAN)}&x=%s" in out
    assert f"failed for {{'iban': '{MASKED}'}}" in out
    assert f"ValueError: (psycopg2.DataError) [parameters: {{'iban': '{MASKED}'}}]" in out


def test_without_the_filter_the_iban_would_be_written():
    logger, stream = logged(lambda logger, handler: None)
    logger.warning("amend to %s", IBAN)
    assert IBAN in stream.getvalue()


def test_install_puts_the_filter_on_each_handler_once():
    logger, stream = logged(lambda logger, handler: None)
    install(logger)
    install(logger)
    assert sum(isinstance(f, IbanFilter) for f in logger.handlers[0].filters) == 1
    logger.warning("amend to %s", IBAN)
    assert MASKED in stream.getvalue() and IBAN not in stream.getvalue()


CONFIGURE_AND_LOG = """
import logging.config, sys
from common.config import load_config
logging.config.dictConfig(load_config(sys.argv[1])["LOGGING"])
logging.getLogger("nameko.rpc").error("amend %s to %s", sys.argv[2], sys.argv[3])
"""


@pytest.mark.parametrize("path", [service_config_path(name) for name in SERVICES] + [ROOT / "deploy/scheduler.yml"],
                         ids=list(SERVICES) + ["scheduler"])
def test_every_nameko_config_masks_the_ibans_its_processes_log(path):
    # in a process of its own, as `nameko run --config` applies LOGGING: this one's stays as it is
    logged = subprocess.run([sys.executable, "-c", CONFIGURE_AND_LOG, str(path), "MD01JX4K8Q2W3E5R7T9Y1V3N", IBAN],
                            cwd=ROOT, capture_output=True, text=True, check=True).stderr
    assert f"amend MD01JX4K8Q2W3E5R7T9Y1V3N to {MASKED}" in logged and IBAN not in logged, logged
