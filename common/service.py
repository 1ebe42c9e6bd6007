"""What every Debito nameko service has: its database and a `ping`, and `rpc`: nameko's,
with `DebitoError` (a call's refusal: 404, 422…) expected, so that the log keeps tracebacks
for faults (common/logs.py)."""
from nameko.rpc import rpc as nameko_rpc
from sqlalchemy import text

from common import clock
from common.database import Database
from common.errors import DebitoError

rpc = nameko_rpc(expected_exceptions=DebitoError)


class DebitoService:
    db = Database()

    @rpc
    def ping(self, check_database=False):
        """Answers without touching the database unless asked (health checks do),
        with the day the service's clock reads."""
        if check_database:
            self.db.execute(text("SELECT 1"))
        return {"service": self.name, "status": "ok", "today": clock.today().isoformat()}
