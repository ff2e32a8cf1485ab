"""SQLAlchemy engine for Cloud SQL (PostgreSQL) through cloud-sql-python-connector + pg8000.

The connector fetches an ephemeral client certificate with the service account's
credentials and opens a TLS connection; no proxy, no IP allow-list. With
``db_iam_auth`` the service account logs in as its IAM database user, no password.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from google.cloud.sql.connector import Connector, IPTypes, RefreshStrategy
from sqlalchemy import Engine, create_engine

from audioconv.adapters.pg8000_ping import tolerate_dropped_sockets
from audioconv.config import Settings

_lock = threading.Lock()
_connectors: dict[tuple[int, IPTypes, bool], Connector] = {}


def _connector(ip_type: IPTypes, iam_auth: bool) -> Connector:
    """The process's one Connector (made lazily: its event-loop thread does not survive fork).

    LAZY refresh fetches certificates only when a connection is opened, which suits
    App Engine, where CPU may be throttled between requests.
    """
    key = (os.getpid(), ip_type, iam_auth)
    with _lock:
        connector = _connectors.get(key)
        if connector is None:
            connector = Connector(
                ip_type=ip_type,
                enable_iam_auth=iam_auth,
                refresh_strategy=RefreshStrategy.LAZY,
            )
            _connectors[key] = connector
            atexit.register(connector.close)
        return connector


def cloud_sql_engine(settings: Settings) -> Engine:
    """A pooled engine whose connections go through the Cloud SQL connector."""
    instance = settings.cloud_sql_instance
    if instance.count(":") != 2:
        raise ValueError(f"cloud_sql_instance must be 'project:region:instance', got {instance!r}")
    if not settings.db_user:
        raise ValueError("db_user is required for Cloud SQL")
    ip_type = IPTypes.PRIVATE if settings.db_private_ip else IPTypes.PUBLIC
    iam_auth = settings.db_iam_auth
    user = settings.db_user
    if iam_auth:
        # PostgreSQL IAM users are named by the account's email minus this suffix.
        user = user.removesuffix(".gserviceaccount.com")
    kwargs: dict[str, Any] = {"user": user, "db": settings.db_name}
    if not iam_auth:
        kwargs["password"] = settings.db_password

    def creator() -> Any:
        return _connector(ip_type, iam_auth).connect(instance, "pg8000", **kwargs)

    engine = create_engine(
        "postgresql+pg8000://",
        creator=creator,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        # Cloud SQL and its proxies drop idle connections; recycle before they do.
        pool_recycle=1800,
    )
    tolerate_dropped_sockets(engine)
    return engine
