"""MONGODB_URI: the scheme is checked with the settings, the rest by the driver's parser at
start (before any connection); either way one line, no password."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import Settings, describe_error

TOKEN = "123456:" + "A" * 35
KEY = "k" * 40  # TIPS_ID_KEY: production settings (a MONGODB_URI) need one


def make(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


@pytest.mark.parametrize("uri", ["foo", "localhost:27017", "http://db:27017", "mongodb:/x"])
def test_mongodb_uri_needs_its_scheme(uri: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make(bot_token=TOKEN, mongodb_uri=uri)
    line = describe_error(exc.value)
    assert line.startswith("invalid configuration: MONGODB_URI:") and "mongodb://" in line
    assert "\n" not in line


def test_empty_mongodb_uri_means_the_embedded_database() -> None:
    assert make(bot_token=TOKEN, mongodb_uri="  ").mongodb_uri is None
    uri = "mongodb+srv://user:pw@cluster0.example.net/?retryWrites=true"
    s = make(bot_token=TOKEN, mongodb_uri=f" {uri} ", tips_id_key=KEY)
    assert s.mongodb_uri is not None and s.mongodb_uri.get_secret_value() == uri


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://",
        "mongodb://db:notaport/",
        "mongodb://db:99999/",
        "mongodb://user:p@ss:w0rd@db/",
        "mongodb+srv://user:s3cret@cluster0.example.net:27017",
    ],
)
async def test_malformed_mongodb_uri_is_refused_before_any_connection(uri: str) -> None:
    from storage.client import InvalidDatabaseUri, connect

    with pytest.raises(InvalidDatabaseUri) as exc:
        await connect(uri, "x", timeout_ms=100)
    reason = str(exc.value)
    assert reason and "\n" not in reason
    assert "s3cret" not in reason and "w0rd" not in reason
