"""The jti replay cache: remembers each token id until it expires, within a memory bound."""

from __future__ import annotations

from cds.auth.replay import ReplayCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_jti_is_accepted_once_and_refused_until_it_expires() -> None:
    clock = Clock()
    cache = ReplayCache(10, clock=clock)
    assert cache.seen("iss", "j1", expires_at=1060) is False
    assert cache.seen("iss", "j1", expires_at=1060) is True
    clock.now = 1061
    assert cache.seen("iss", "j1", expires_at=1200) is False


def test_the_same_jti_from_two_issuers_is_two_tokens() -> None:
    cache = ReplayCache(10, clock=Clock())
    assert cache.seen("iss-a", "j1", expires_at=2000) is False
    assert cache.seen("iss-b", "j1", expires_at=2000) is False


def test_expired_ids_are_dropped_so_the_cache_stays_small() -> None:
    clock = Clock()
    cache = ReplayCache(1000, clock=clock)
    for i in range(50):
        cache.seen("iss", f"j{i}", expires_at=1010)
    clock.now = 1011
    cache.seen("iss", "fresh", expires_at=1100)
    assert len(cache) == 1


def test_a_full_cache_forgets_the_id_closest_to_expiry_first() -> None:
    cache = ReplayCache(2, clock=Clock())
    cache.seen("iss", "soon", expires_at=1010)
    cache.seen("iss", "later", expires_at=1500)
    cache.seen("iss", "newest", expires_at=1600)
    assert len(cache) == 2
    assert cache.seen("iss", "later", expires_at=1500) is True
    assert cache.seen("iss", "soon", expires_at=1010) is False
