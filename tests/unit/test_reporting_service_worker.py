"""The reporting service class with nameko's worker_factory on a rolled-back PostgreSQL
database migrated by Alembic: handlers store and count once, the RPCs answer."""
import uuid

import pytest
from nameko.testing.services import worker_factory

from common.errors import Invalid
from reporting.service import ReportingService


@pytest.fixture
def db(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-31T12:00:00+00:00")
    yield db_session("reporting", expire_on_commit=False)


def test_a_handled_event_counts_once_and_the_overview_shows_it(db):
    service = worker_factory(ReportingService, db=db)
    signed = {"event_id": uuid.uuid4().hex, "merchant_id": "MEa", "mandate_id": "MD1",
              "signed_at": "2027-03-30T08:00:00+00:00"}
    assert service.on_mandate_signed(signed) is True
    assert service.on_mandate_signed(signed) is False
    view = service.overview("MEa", "2027-03-31")
    assert view["mandates_signed"] == 1 and view["series"][-2]["mandates_signed"] == 1
    assert service.overview("MEa")["as_of"] == "2027-03-31"  # the clock's day by default
    assert service.rebuild() == {"facts": 1}
    assert service.overview("MEa", "2027-03-31") == view
    with pytest.raises(Invalid):
        service.overview("MEa", "yesterday")
