"""Throw-away PostgreSQL stores, for the suite's fixtures and the soak benchmark alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from connectors.platform import db


@contextmanager
def postgres_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """The URL of a fresh, empty schema in the PostgreSQL database `base_url`, dropped with
    everything in it afterwards (a new database from a template is slower to make than a
    schema is to migrate)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    url = f"{base_url}{separator}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        db.get_engine(url).dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
