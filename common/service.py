"""What every Debito nameko service has: its database and a `ping`."""
from nameko.rpc import rpc
from sqlalchemy import text

from common import clock
from common.database import Database


class DebitoService:
    db = Database()

    @rpc
    def ping(self, check_database=False):
        """Answers without touching the database unless asked (health checks do),
        with the day the service's clock reads."""
        if check_database:
            self.db.execute(text("SELECT 1"))
        return {"service": self.name, "status": "ok", "today": clock.today().isoformat()}
