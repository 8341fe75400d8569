"""The attack suite reuses the job flow's fixtures (engine stand-in, broker, worker, receivers)
and the API tests' customer with a key and their nothing-created guard."""

from tests.jobs.conftest import (  # noqa: F401 - fixtures, registered by import
    broker,
    fake_engine,
    org,
    price_table,
    receiver,
    receiver_factory,
    worker,
)
from tests.restoration.conftest import customer, nothing_created, seeded  # noqa: F401 - fixtures
