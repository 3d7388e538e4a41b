"""The scrubbing rules themselves (otel_mlflow.scrub): every form of credential the review found, the keys
that must stay, and a user pattern that backtracks catastrophically. The store-wide searches are in
test_secrets.py."""

from __future__ import annotations

import logging

import pytest

from otel_mlflow.config import ConfigError, ScrubSettings
from otel_mlflow.config.parse import patterns
from otel_mlflow.scrub import TIMED_OUT, Scrubber, get_logger, is_secret_key, scrub_text

# (text with a credential, the credential, what must stay readable)
VALUE_FORMS = [
    ("db_password=PLANTEDdbpw1 host=db", "PLANTEDdbpw1", "db_password=[redacted] host=db"),
    ("client_secret=PLANTEDcs2", "PLANTEDcs2", "client_secret=[redacted]"),
    ("GITHUB_TOKEN=PLANTEDgh3", "PLANTEDgh3", "GITHUB_TOKEN=[redacted]"),
    ('{"password": "PLANTED pw 4", "model": "gpt-4"}', "PLANTED pw 4", '{"password": "[redacted]", "model": "gpt-4"}'),
    ("password: 'PLANTEDquoted5'", "PLANTEDquoted5", "password: '[redacted]'"),
    ("password=LEAK9", "LEAK9", "password=[redacted]"),
    ("postgresql://app:PLANTED@pg6@db:5432/x", "PLANTED@pg6", "postgresql://app:[redacted]@db:5432/x"),
    ("Authorization: Token PLANTEDtok7", "PLANTEDtok7", "Authorization: Token [redacted]"),
    ("aws_secret_access_key=PLANTEDaws8/abc+def", "PLANTEDaws8", "aws_secret_access_key=[redacted]"),
    ("key id AKIAPLANTED123456789 in use", "PLANTED123456789", "key id AKIA...[redacted] in use"),
    ('{"x-api-key": "PLANTEDxk10"}', "PLANTEDxk10", '{"x-api-key": "[redacted]"}'),
    ("curl -H 'Authorization: Bearer PLANTED_bearer_12'", "PLANTED_bearer_12", "Bearer [redacted]"),
    ("Incorrect API key provided: sk-proj-PLANTEDopenai0123456789", "PLANTEDopenai", "provided: sk-proj-...[redacted]"),
    ("GET /x?q=1&token=PLANTEDq13&page=2", "PLANTEDq13", "?q=1&token=[redacted]&page=2"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEIn0.PLANTEDsig14", "PLANTEDsig14", "jwt eyJ...[redacted]"),
    ("Basic UExBTlRFRDpwYXNzd29yZA==", "UExBTlRFRDpwYXNzd29yZA", "Basic [redacted]"),
    ("ghp_PLANTEDgithub0123456789abcdef", "PLANTEDgithub", "ghp_...[redacted]"),
    ("-----BEGIN RSA PRIVATE KEY-----\nPLANTEDpem15\n-----END RSA PRIVATE KEY-----", "PLANTEDpem15", "[redacted]"),
    ("dsn=postgresql://u:PLANTEDdsn16@h/db", "PLANTEDdsn16", "dsn=[redacted]"),
    ('[{"content": "{\\"password\\": \\"PLANTED 17\\"}"}]', "PLANTED 17", '\\"password\\": \\"[redacted]\\"'),
    ("a JSON string: password=LEAK18\\nAuthorization: Token PLANTED19\\n", "PLANTED19", "Token [redacted]"),
    ("JSON text\\nBasic UExBTlRFRDpwYXNzd29yZA==\\nghp_PLANTED20abcdefghijklmnop", "PLANTED20", "\\nghp_...[redacted]"),
    (
        "JSON text\\napi_key=PLANTED21\\nBearer PLANTED_22_bearer",
        "PLANTED_22",
        "\\napi_key=[redacted]\\nBearer [redacted]",
    ),
]


@pytest.mark.parametrize(("text", "secret", "kept"), VALUE_FORMS, ids=[f[1] for f in VALUE_FORMS])
def test_every_form_of_credential_in_text_is_masked_with_its_shape_kept(text: str, secret: str, kept: str) -> None:
    clean = scrub_text(text)
    assert secret not in clean
    assert kept in clean
    assert scrub_text(clean) == clean  # a second pass changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=100 input_tokens: 5",
        "Basic Authentication is used here",
        "scikit sk-learn is fine",
        "the author: Jane",
        "http://example.com:8080/path",
        "gen_ai.usage.input_tokens=12",
        "ratio: 3:2",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    "key",
    [
        "http.request.header.authorization",
        "http.request.header.x-api-key",
        "http.request.header.x-custom-auth",
        "db_password",
        "GITHUB_TOKEN",
        "clientSecret",
        "aws_secret_access_key",
        "AWS_ACCESS_KEY_ID",
        "set-cookie",
        "auth.token",
        "db.dsn",
        "openai_api_key",
        "accessToken",
        "X-Amz-Signature",
        "private_key",
        "MYSQL_PWD",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "gen_ai.usage.input_tokens",
        "gen_ai.request.max_tokens",
        "mlflow.chat.tokenUsage",
        "llm.token_count.prompt",
        "session.id",
        "user.id",
        "author",
        "tokenizer",
        "gen_ai.response.model",
        "keyword",
        "otel_mlflow.metric.tokens",
    ],
)
def test_keys_that_stay(key: str) -> None:
    assert not is_secret_key(key)


def test_secret_key_keeps_its_name_and_the_kind_of_its_value() -> None:
    scrub = Scrubber()
    out = scrub.attributes(
        {
            "http.request.header.authorization": "Bearer PLANTED",
            "openai_api_key": "sk-proj-PLANTED0123456789abcdef",
            "password": "x",
            "pin.secret": 1234,
            "k": 3,
        }
    )
    assert out == {
        "http.request.header.authorization": "Bearer [redacted]",
        "openai_api_key": "sk-proj-...[redacted]",
        "password": "[redacted]",
        "pin.secret": "[redacted]",
        "k": 3,
    }


def test_user_words_patterns_and_allowed_keys() -> None:
    scrub = Scrubber(ScrubSettings(patterns=(r"ACME-\d{6}",), keys=("SSN",), allow_keys=("app.sk_model",)))
    assert scrub.text("order ACME-123456 shipped") == "order [redacted] shipped"
    assert scrub.is_secret_key("user.ssn") and not scrub.is_secret_key("user.ssno")
    assert scrub.value("app.sk_model", "sk-learn-forest-classifier-v2") == "sk-learn-forest-classifier-v2"
    assert scrub.value("app.other", "sk-learn-forest-classifier-v2") == "sk-...[redacted]"  # the false positive


def test_catastrophic_user_pattern_costs_a_bounded_time_and_masks_the_value() -> None:
    scrub = Scrubber(ScrubSettings(patterns=(r"(a|aa)+$",)))
    assert scrub.text("a" * 40 + "!") == TIMED_OUT  # without the bound this runs for hours
    assert scrub.timeouts == 1
    assert scrub.text("short and fine") == "short and fine"


def test_bad_settings_name_the_variable_and_the_fix() -> None:
    with pytest.raises(ConfigError, match="OTEL_MLFLOW_REDACT_PATTERNS: '\\(unclosed' is not a regular expression"):
        ScrubSettings(patterns=("(unclosed",))
    with pytest.raises(ConfigError, match="OTEL_MLFLOW_REDACT_KEYS: 'api.key' is not one word"):
        ScrubSettings(keys=("api.key",))


def test_commas_inside_a_pattern_stay_in_it() -> None:
    assert patterns("X", r"ACME-\d{6,8}, [a,b]z ,\,y") == (r"ACME-\d{6,8}", "[a,b]z", r"\,y")


def test_log_lines_and_their_tracebacks_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    logger = get_logger("otel_mlflow.test_scrub")
    with caplog.at_level(logging.WARNING, logger="otel_mlflow.test_scrub"):
        try:
            raise ConnectionError("cannot reach http://admin:PLANTEDlog1@db:5000 with password=PLANTEDlog2")
        except ConnectionError:
            logger.warning("MLflow at %s refused", "http://u:PLANTEDlog3@h/", exc_info=True)
    text = caplog.text
    assert "refused" in text and "ConnectionError" in text
    for secret in ("PLANTEDlog1", "PLANTEDlog2", "PLANTEDlog3"):
        assert secret not in text, secret


def test_huge_hostile_text_is_scrubbed_in_one_pass() -> None:
    text = "x:" * 200_000 + "password=PLANTEDhuge " + '"' * 100_000 + "eyJ" * 50_000
    clean = scrub_text(text)
    assert "PLANTEDhuge" not in clean and len(clean) < len(text)
