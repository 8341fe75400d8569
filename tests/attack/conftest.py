"""The attack suite reuses the job flow's fixtures (engine stand-in, broker, worker, receivers)
and the API tests' (a funded customer with a key, an outsider, the nothing-created guard)."""

from tests.jobs.conftest import (  # noqa: F401 - fixtures, registered by import
    broker,
    fake_engine,
    org,
    price_table,
    receiver,
    receiver_factory,
    worker,
)
from tests.restoration.conftest import (  # noqa: F401 - the API tests' customers and guards
    client,
    customer,
    local_server,
    nothing_created,
    outsider,
    seeded,
)
