"""What a service's log says about a failed call.

nameko logs every exception an entrypoint raises. A `DebitoError` (not found, invalid,
conflict…) is the call's answer, not a fault: the services declare it expected
(`common.service.rpc`), and `ExpectedErrors` writes nameko's "(expected) error handling
worker" line for it in one INFO line, without the traceback. Any other exception keeps its
ERROR line and traceback. Installed on the handlers of every service's LOGGING."""
import logging


class ExpectedErrors(logging.Filter):
    def filter(self, record):
        if record.name == "nameko.containers" and str(record.msg).startswith("(expected)"):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True
