"""The attack suite reuses the job flow's fixtures (engine stand-in, broker, worker, receivers)."""

from tests.jobs.conftest import (  # noqa: F401 - fixtures, registered by import
    broker,
    fake_engine,
    org,
    price_table,
    receiver,
    receiver_factory,
    worker,
)
