"""lib.redact: subscription keys never reach a log line, in the query string or anywhere else."""

from __future__ import annotations

import logging

from accounts.keys import generate_key
from lib.logcontext import logging_config
from lib.redact import RedactKeysFilter, redact_keys


def test_a_key_keeps_its_prefix_and_loses_its_secret_wherever_it_is():
    key = generate_key()[1]
    prefix, secret = key.split("_")[1], key.split("_", 2)[2]
    for text in (
        f'"GET /v2/requests/status/x?subscription-key={key} HTTP/1.1" 200',
        f"http://host/docs?a=1&Subscription-Key={key}#top",
        f"/some/path/{key}/more",
        f"Bearer {key}",
    ):
        redacted = redact_keys(text)
        assert secret not in redacted and f"cf_{prefix}_[redacted]" in redacted, redacted


def test_whatever_follows_the_query_parameter_is_dropped_even_if_it_is_no_key():
    assert redact_keys("/x?a=1&subscription-key=typo-of-a-key&b=2") == "/x?a=1&subscription-key=[redacted]&b=2"
    assert redact_keys("/v2/requests?subscription-key=") == "/v2/requests?subscription-key=[redacted]"
    assert redact_keys("nothing to see /v2/requests?page=2") == "nothing to see /v2/requests?page=2"


def test_the_log_filter_rewrites_a_record_that_carries_a_key(caplog):
    key = generate_key()[1]
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s', (f"GET /?subscription-key={key}", 200), None
    )
    assert RedactKeysFilter().filter(record) is True
    assert key not in record.getMessage() and "[redacted]" in record.getMessage()


def test_the_dev_servers_request_lines_go_through_the_redacting_handler():
    config = logging_config(fmt="plain", level="INFO")
    assert "redact" in config["handlers"]["console"]["filters"]
    assert config["loggers"]["django.server"]["handlers"] == ["console"]
