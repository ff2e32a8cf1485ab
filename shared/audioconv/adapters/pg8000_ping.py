"""A pg8000 connection pool that notices dead sockets; used by every PostgreSQL engine
(``database.make_engine`` and ``cloudsql.cloud_sql_engine``)."""

from __future__ import annotations

from typing import Any

import pg8000.dbapi
from sqlalchemy import Engine


def tolerate_dropped_sockets(engine: Engine) -> None:
    """Make pool_pre_ping replace pg8000 connections whose socket the server reset, at
    no extra round trip.

    pg8000 1.31 leaves the first socket read of a reply unguarded, so a connection
    the server has reset raises a bare ConnectionResetError instead of its DB-API
    InterfaceError("network error"). SQLAlchemy's pre-ping only recognises DB-API
    errors, so the dead pooled connection would fail the request instead of being
    replaced. Translate it to the error pg8000 raises everywhere else.

    SQLAlchemy's ping (``;``) made pg8000 send ``begin transaction`` first: two round
    trips before every transaction's first statement. The ping is that ``begin``
    itself: the transaction the checkout is for starts with it, and a dead socket
    fails it just the same. (A connection in autocommit mode gets SQLAlchemy's ping.)
    """
    ping = engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        try:
            if dbapi_connection.autocommit or dbapi_connection._in_transaction:
                return ping(dbapi_connection)
            dbapi_connection.execute_simple("begin transaction")
            return True
        except OSError as exc:
            raise pg8000.dbapi.InterfaceError("network error") from exc

    setattr(engine.dialect, "do_ping", do_ping)  # noqa: B010
