"""Tables of the `reporting` service; every business row carries `merchant_id`."""
from sqlalchemy.orm import DeclarativeBase

from common.idempotency import processed_events_table


class Base(DeclarativeBase):
    pass


processed_events = processed_events_table(Base.metadata)
