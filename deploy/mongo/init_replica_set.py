"""Initiate the replica set and create the bot's database users. Idempotent: run on every
``docker compose up`` (the ``mongo-init`` service, in the bot's image), or by hand on hosts
without containers: ``/opt/six-circles/venv/bin/python deploy/mongo/init_replica_set.py``.

Environment (``*_FILE`` variables name files holding the secret):

- ``RS_NAME`` (``rs0``), ``RS_MEMBERS`` (``mongo1:27017,mongo2:27017,mongo3:27017``): the
  replica set; the first member is asked to initiate it when it is not yet initiated.
- ``MONGO_ROOT_USER`` (``root``), ``MONGO_ROOT_PASSWORD_FILE``: an administrator.
- ``APP_DB`` (``six_circles``), ``APP_USER`` (``six_circles``), ``APP_PASSWORD_FILE``: the
  bot's user, with ``readWrite`` on ``APP_DB`` and nothing else (least privilege: it cannot
  read other databases, manage users or change the replica set).
- ``BACKUP_USER`` (``backup``), ``BACKUP_PASSWORD_FILE`` (optional): the ``backup`` role,
  for ``mongodump`` (deploy/mongo/backup.sh).
- ``INIT_TIMEOUT_S`` (``120``): how long to wait for the members and for a primary.

A user that exists gets its password and roles set again from the files: to rotate a
password, change its file and run this again (docs/deployment.md, "Secrets").
Exit status 0 when done, 1 with a one-line reason otherwise.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from pymongo.errors import OperationFailure, PyMongoError

from storage.client import make_client

NOT_YET_INITIALIZED = 94
# Retrying cannot help these: wrong credentials, missing rights.
AUTH_ERRORS = {13, 18}  # Unauthorized, AuthenticationFailed


class InitError(RuntimeError):
    pass


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise InitError(f"{name} is not set")
    return value


def secret(name: str) -> str:
    path = env(f"{name}_FILE")
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InitError(f"{name}_FILE={path}: {exc.strerror}") from exc
    if not value:
        raise InitError(f"{name}_FILE={path} is empty")
    return value


def uri(user: str, password: str, hosts: str, query: str) -> str:
    return f"mongodb://{quote_plus(user)}:{quote_plus(password)}@{hosts}/?{query}"


async def until(deadline: float, what: str, attempt: Any) -> Any:
    """Retry ``attempt`` (a coroutine function) on database errors until ``deadline``."""
    while True:
        try:
            return await attempt()
        except PyMongoError as exc:
            if isinstance(exc, OperationFailure) and exc.code in AUTH_ERRORS:
                raise InitError(
                    f"{what}: {exc.details.get('errmsg') if exc.details else exc}"
                ) from exc
            if time.monotonic() > deadline:
                raise InitError(f"{what}: {type(exc).__name__}: {exc}") from exc
            await asyncio.sleep(1.0)


async def initiate(root: str, password: str, name: str, members: list[str], deadline: float) -> str:
    """Initiate the set through its first member unless that is done; return its state."""
    client = make_client(
        uri(root, password, members[0], "directConnection=true&authSource=admin"), timeout_ms=5000
    )
    try:

        async def status() -> dict[str, Any]:
            try:
                return dict(await client.admin.command("replSetGetStatus"))
            except OperationFailure as exc:
                if exc.code == NOT_YET_INITIALIZED:
                    return {}
                raise

        current = await until(deadline, f"cannot reach {members[0]}", status)
        if current:
            if current.get("set") != name:
                raise InitError(f"{members[0]} belongs to replica set {current.get('set')!r}")
            return "already initiated"
        config = {"_id": name, "members": [{"_id": i, "host": h} for i, h in enumerate(members)]}
        await client.admin.command("replSetInitiate", config)
        return f"initiated with {len(members)} members"
    finally:
        await client.close()


async def ensure_user(client: Any, user: str, password: str, roles: list[Any]) -> str:
    admin = client.admin
    found = await admin.command("usersInfo", user)
    spec = {"pwd": password, "roles": roles, "writeConcern": {"w": "majority"}}
    if found.get("users"):
        await admin.command({"updateUser": user, **spec})
        return f"user {user}: password and roles set"
    await admin.command({"createUser": user, **spec})
    return f"user {user}: created"


async def main() -> None:
    name = env("RS_NAME", "rs0")
    members = env("RS_MEMBERS", "mongo1:27017,mongo2:27017,mongo3:27017").split(",")
    root = env("MONGO_ROOT_USER", "root")
    root_password = secret("MONGO_ROOT_PASSWORD")
    app_db = env("APP_DB", "six_circles")
    app_user = env("APP_USER", "six_circles")
    app_password = secret("APP_PASSWORD")
    backup_user = os.environ.get("BACKUP_USER", "backup")
    backup_password = secret("BACKUP_PASSWORD") if os.environ.get("BACKUP_PASSWORD_FILE") else None
    timeout_s = float(env("INIT_TIMEOUT_S", "120"))
    deadline = time.monotonic() + timeout_s

    print(f"replica set {name}: {await initiate(root, root_password, name, members, deadline)}")
    hosts = ",".join(members)
    query = f"replicaSet={quote_plus(name)}&authSource=admin&w=majority"
    client = make_client(uri(root, root_password, hosts, query), timeout_ms=5000)
    try:
        # Commands go to the primary: this waits for the election after an initiate.
        await until(deadline, "no primary", lambda: client.admin.command("usersInfo", root))
        print(
            await ensure_user(client, app_user, app_password, [{"role": "readWrite", "db": app_db}])
        )
        if backup_password is not None:
            print(
                await ensure_user(
                    client, backup_user, backup_password, [{"role": "backup", "db": "admin"}]
                )
            )
    finally:
        await client.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (InitError, PyMongoError) as exc:
        print(f"init_replica_set: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
