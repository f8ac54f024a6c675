"""One AsyncMongoClient per process, created here and nowhere else."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, DuplicateKeyError, PyMongoError

Document = dict[str, Any]
Database = AsyncDatabase[Document]


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached (wrong URI, server down, network)."""


class InvalidDatabaseUri(ValueError):
    """The MongoDB URI is malformed (the driver's parser refused it); the message is one
    line without the URI's password."""


def redact_uri(uri: str) -> str:
    """Hide the password of a MongoDB URI for logs and error messages."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest:
        return uri
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def make_client(uri: str, *, timeout_ms: int = 5000, **options: Any) -> AsyncMongoClient[Document]:
    """The bot's client; ``options`` go to the driver as well (e.g. event listeners)."""
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        appname="six-circles",
        **options,
    )


async def connect(
    uri: str, db_name: str, *, timeout_ms: int = 5000
) -> tuple[AsyncMongoClient[Document], Database]:
    """Connect and ``ping``; raise DatabaseUnavailable with a clear message on failure,
    InvalidDatabaseUri when the driver cannot parse ``uri`` (before any network use)."""
    try:
        client = make_client(uri, timeout_ms=timeout_ms)
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise InvalidDatabaseUri(_uri_problem(uri, exc)) from None
    try:
        await client.admin.command("ping")
    except PyMongoError as exc:
        await client.close()
        raise DatabaseUnavailable(
            f"cannot reach MongoDB at {redact_uri(uri)}: {type(exc).__name__}: {exc}"
        ) from exc
    return client, client[db_name]


def _uri_problem(uri: str, exc: Exception) -> str:
    """The driver's reason on one line, with anything of the URI's credentials hidden."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    _, sep, rest = uri.partition("://")
    creds = rest.rpartition("@")[0] if sep else ""
    for secret in (creds, *creds.split(":", 1)[1:]):
        if len(secret) >= 3:
            reason = reason.replace(secret, "***")
    return reason[:300]


async def ping(db: Database) -> bool:
    try:
        await db.command("ping")
    except PyMongoError:
        return False
    return True


async def upsert_after(
    collection: AsyncCollection[Document], query: Document, update: Document
) -> Document:
    """``find_one_and_update(upsert=True)`` returning the document after the update. Two
    concurrent upserts of a new document race to insert it: the loser gets a duplicate key
    error (or, from some servers, no document); one retry then updates what the winner
    inserted."""
    for _ in range(3):
        try:
            doc = await collection.find_one_and_update(
                query, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            continue
        if doc is not None:
            return doc
    raise RuntimeError(f"upsert into {collection.name} kept losing the race for {query!r}")
