"""The netfetch tests serve from the same local HTTP server as the API tests."""

from tests.restoration.conftest import local_server  # noqa: F401  (a fixture, used by name)
