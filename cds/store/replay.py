"""`jti` replay protection in the database, for replicas that share it and no Redis.

One INSERT ... ON CONFLICT DO NOTHING per accepted token answers "first use?" and remembers
it in one statement. Expired ids are deleted now and then (at most every PRUNE_EVERY_S per
process). The statement runs in a thread so the event loop never waits for the database;
the caller (cds.auth.replay.ReplayGuard) bounds the wait.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from cds.auth.replay import replay_key
from cds.store import tables
from cds.store.database import Database

PRUNE_EVERY_S = 60.0


class DatabaseReplay:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._pruned_at = float("-inf")

    async def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        return await asyncio.to_thread(self._insert, replay_key(issuer, jti), expires_at)

    def _insert(self, key: str, expires_at: float) -> bool:
        self.database.ensure_schema()
        engine: Engine = self.database.engine
        module = postgresql if engine.dialect.name == "postgresql" else sqlite
        seen = tables.jti_seen
        statement = (module.insert(seen).values(key=key, expires_at=expires_at)
                     .on_conflict_do_nothing(index_elements=["key"]).returning(seen.c.key))
        now = time.time()
        with engine.begin() as conn:
            if now - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = now
                conn.execute(delete(seen).where(seen.c.expires_at < now))
            if conn.execute(statement).first() is not None:
                return True
            # An id whose row outlived its expiry (not pruned yet) is a first use again.
            renewed = conn.execute(
                seen.update().where(seen.c.key == key).where(seen.c.expires_at < now)
                .values(expires_at=expires_at).returning(seen.c.key)).first()
        return renewed is not None
