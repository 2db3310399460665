"""Pure access logic: key scopes, the bounded rate limiter, trusted proxies, refusal sampling."""

from __future__ import annotations

import pytest

from ollama_proxy.operations import classify
from ollama_proxy.proxy.access import (
    Access,
    Admitted,
    Key,
    RateLimiter,
    Refusal,
    in_scope,
    parse_keys,
)
from ollama_proxy.proxy.forwarded import client_address, parse_address, parse_networks
from ollama_proxy.proxy.refusals import OTHER, RefusalTally

INFERENCE_PATHS = [
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/models/llama3.2",
    "/v1/messages",
    "/api/tags",
    "/api/ps",
    "/api/show",
    "/api/version",
    "/",
]
MANAGE_PATHS = [
    "/api/pull",
    "/api/push",
    "/api/create",
    "/api/copy",
    "/api/delete",
    "/api/blobs/sha256:abc",
    "/api/experimental-thing",
]


def test_keys_take_an_optional_scope() -> None:
    assert parse_keys(["ci:k1:inference", "ops:k2:manage", "old:k3", "odd:k:4"]) == {
        "k1": Key("ci", "inference"),
        "k2": Key("ops", "manage"),
        "k3": Key("old", None),
        "k:4": Key("odd", None),  # a colon inside a key stays part of it
    }


@pytest.mark.parametrize("path", INFERENCE_PATHS)
def test_inference_scope_allows_models_to_be_used_and_read(path: str) -> None:
    assert in_scope("inference", classify(path)) and in_scope("manage", classify(path))


@pytest.mark.parametrize("path", MANAGE_PATHS)
def test_only_manage_or_unscoped_keys_change_models(path: str) -> None:
    route = classify(path)
    assert not in_scope("inference", route)
    assert in_scope("manage", route) and in_scope(None, route)


def test_an_out_of_scope_key_is_refused_403_naming_the_scope() -> None:
    access = Access(parse_keys(["ci:k1:inference"]))
    headers = {"Authorization": "Bearer k1"}
    refusal = access.check(headers, "10.0.0.1", 0.0, classify("/api/delete"))
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert refusal.reason == "forbidden" and refusal.client == "ci"
    assert "'manage'" in refusal.message and "'inference'" in refusal.message
    assert access.check(headers, "10.0.0.1", 0.0, classify("/api/chat")) == Admitted(
        "ci", "10.0.0.1"
    )


def test_rate_limit_state_is_bounded_under_an_address_spray() -> None:
    # Reproduces: buckets were only cleared on a refusal, so a spray of addresses that each
    # stay under the limit grew the dict forever; and a clear reset every client's limit.
    limiter = RateLimiter(rate=1, burst=2, max_clients=1000)
    assert limiter.take("heavy", 0.0) is None and limiter.take("heavy", 0.0) is None
    for i in range(20_000):
        assert limiter.take(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 0.001) is None
        if i % 500 == 0:
            assert limiter.take("heavy", 0.001) is not None, "the heavy client was reset"
    assert len(limiter) <= 1000


def test_idle_buckets_expire_once_refilled() -> None:
    limiter = RateLimiter(rate=2, burst=4)  # refilled after 2 s
    for client in ("a", "b", "c"):
        limiter.take(client, 0.0)
    limiter.take("d", 1.0)
    assert len(limiter) == 4
    limiter.take("e", 2.5)
    assert len(limiter) == 2  # a, b, c had refilled: forgotten; d and e remain


def test_the_least_recently_seen_client_is_the_one_reset() -> None:
    limiter = RateLimiter(rate=0.001, burst=1, max_clients=2)
    limiter.take("a", 0.0)
    limiter.take("b", 0.0)
    assert limiter.take("a", 0.0) is not None  # a is now the most recent
    limiter.take("c", 0.0)  # evicts b
    assert limiter.take("a", 0.0) is not None, "a kept its (empty) bucket"
    assert limiter.take("b", 0.0) is None, "b starts again"


NETS = parse_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("remote", "xff", "expected"),
    [
        ("192.0.2.1", "6.6.6.6", "192.0.2.1"),  # not from a trusted proxy: headers ignored
        ("10.0.0.2", "192.0.2.7", "192.0.2.7"),
        ("10.0.0.2", "6.6.6.6, 192.0.2.7", "192.0.2.7"),  # the client's own entry is ignored
        ("10.0.0.2", "192.0.2.7, 10.1.1.1", "192.0.2.7"),  # two proxies deep
        ("10.0.0.2", "10.9.9.9", "10.9.9.9"),  # only proxies: the farthest one
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "garbage, 192.0.2.7", "192.0.2.7"),
        ("10.0.0.2", "192.0.2.7, garbage", "10.0.0.2"),  # a trusted hop wrote garbage: stop
        ("10.0.0.2", "192.0.2.7:5555", "192.0.2.7"),
        ("10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:10.0.0.2", "192.0.2.7", "192.0.2.7"),
    ],
)
def test_x_forwarded_for_names_the_client_behind_trusted_proxies(
    remote: str, xff: str, expected: str
) -> None:
    assert client_address(remote, {"X-Forwarded-For": xff}, NETS) == expected


def test_forwarded_is_read_only_when_chosen() -> None:
    headers = {
        "Forwarded": 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"',
        "X-Forwarded-For": "6.6.6.6",
    }
    assert client_address("10.0.0.2", headers, NETS, "forwarded") == "2001:db8:cafe::17"
    assert client_address("10.0.0.2", headers, NETS) == "6.6.6.6"
    assert client_address("10.0.0.2", {"X-Forwarded-For": "1.2.3.4"}, NETS, "forwarded") == (
        "10.0.0.2"
    )


def test_a_hop_list_longer_than_the_budget_is_cut() -> None:
    xff = ", ".join(["10.0.0.1"] * 100_000)
    assert client_address("10.0.0.2", {"X-Forwarded-For": xff}, NETS) == "10.0.0.1"
    assert parse_address("[::1") is None and parse_address("") is None


def test_users_behind_a_load_balancer_get_their_own_buckets() -> None:
    access = Access({}, RateLimiter(rate=0.001, burst=1), trusted_proxies=NETS)
    first = access.check({"X-Forwarded-For": "192.0.2.1"}, "10.0.0.2", 0.0)
    second = access.check({"X-Forwarded-For": "192.0.2.2"}, "10.0.0.2", 0.0)
    again = access.check({"X-Forwarded-For": "192.0.2.1"}, "10.0.0.2", 0.0)
    assert first == Admitted("192.0.2.1", "192.0.2.1") and isinstance(second, Admitted)
    assert isinstance(again, Refusal) and again.status == 429


def test_hashing_applies_to_the_forwarded_address() -> None:
    access = Access({}, hash_ips=True, salt="s", trusted_proxies=NETS)
    admitted = access.check({"X-Forwarded-For": "192.0.2.1"}, "10.0.0.2", 0.0)
    assert isinstance(admitted, Admitted) and admitted.client == admitted.address
    assert admitted.address.startswith("ip-") and "192.0.2.1" not in admitted.address


def test_refusals_are_sampled_per_client_and_overall() -> None:
    tally = RefusalTally(every_s=5.0, max_per_s=10)
    recorded = [tally.refused("unauthorized", "a", i * 0.01) for i in range(1000)]  # 10 s
    assert [n for n in recorded if n is not None] == [1, 500]
    assert tally.counts() == {("unauthorized", "a"): 1000}
    spray = [tally.refused("unauthorized", f"ip-{i}", 20.0 + i * 0.001) for i in range(1000)]
    assert sum(n is not None for n in spray) <= 10 + 10  # burst + 1 s at the overall rate


def test_refusal_labels_are_budgeted() -> None:
    tally = RefusalTally(max_labels=3)
    for i in range(10):
        tally.refused("rate_limited", f"c{i}", float(i))
    counts = tally.counts()
    assert len(counts) == 4 and counts[("rate_limited", OTHER)] == 7
