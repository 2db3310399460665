"""Model and conversation key from request bodies, and the fleet settings' parsing."""

from __future__ import annotations

import orjson
import pytest

from ollama_proxy.config import Settings
from ollama_proxy.fleet.facts import PARSE_MAX, facts
from ollama_proxy.fleet.union import lowest_version, union_models


def chat(*messages: tuple[str, str], model: str = "llama3.2") -> bytes:
    return orjson.dumps(
        {"model": model, "messages": [{"role": r, "content": c} for r, c in messages]}
    )


def test_turns_of_one_conversation_share_a_key() -> None:
    one = facts(chat(("system", "be brief"), ("user", "hi")))
    two = facts(chat(("system", "be brief"), ("user", "hi"), ("assistant", "yo"), ("user", "?")))
    other = facts(chat(("system", "be brief"), ("user", "hello")))
    assert one.model == "llama3.2:latest"
    assert one.affinity is not None and one.affinity == two.affinity != other.affinity


def test_same_messages_on_another_model_are_another_conversation() -> None:
    assert facts(chat(("user", "hi"))).affinity != facts(chat(("user", "hi"), model="q")).affinity


def test_generate_prompt_prefix_and_embed_without_key() -> None:
    body = orjson.dumps({"model": "qwen3:0.6b", "prompt": "x" * 5000})
    same_start = orjson.dumps({"model": "qwen3:0.6b", "prompt": "x" * 4000 + "y"})
    assert facts(body).affinity == facts(same_start).affinity
    assert facts(orjson.dumps({"model": "all-minilm", "input": ["a"]})).affinity is not None
    assert facts(orjson.dumps({"model": "all-minilm"})).affinity is None


def test_large_bodies_are_searched_not_parsed() -> None:
    # An SDK putting `model` after megabytes of base64 images.
    image = b"A" * PARSE_MAX
    body = b'{"messages":[{"role":"user","images":["' + image + b'"]}],"model":"Qwen3:0.6b"}'
    found = facts(body)
    assert found.model == "qwen3:0.6b" and found.affinity is None


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'{"model": 5}'])
def test_bodies_without_a_model(body: bytes) -> None:
    assert facts(body).model == ""


def test_union_keeps_first_of_duplicates_and_order_of_keys() -> None:
    a = {"models": [{"name": "x", "digest": "1", "size": 1}]}
    b = {"models": [{"size": 2, "name": "y", "digest": "2"}, {"name": "x", "digest": "1"}]}
    merged = orjson.loads(union_models([a, b]))
    assert merged == {"models": [a["models"][0], b["models"][0]]}
    assert list(merged["models"][1]) == ["size", "name", "digest"]


def test_lowest_version() -> None:
    assert lowest_version([{"version": "0.10.0"}, {"version": "0.9.9"}]) == b'{"version":"0.9.9"}'
    assert lowest_version([{"version": "0.5.0"}, {"version": "0.5.0-rc1"}]) == (
        b'{"version":"0.5.0-rc1"}'
    )


def test_settings_parse_nodes_rules_and_refuse_unknown_names() -> None:
    settings = Settings(
        upstreams="gpu1=http://10.0.0.5:11434, 10.0.0.6",
        route_rules="llama3*=gpu1",
        route_node_slots="10.0.0.6:11434=4",
    )
    assert [(n.name, n.url) for n in settings.nodes] == [
        ("gpu1", "http://10.0.0.5:11434"),
        ("10.0.0.6:11434", "http://10.0.0.6:11434"),
    ]
    assert settings.upstream == "http://10.0.0.5:11434"  # the first node
    with pytest.raises(ValueError, match="unknown node"):
        Settings(upstreams="a=http://h:1,b=http://h:2", route_rules="x=c")
    with pytest.raises(ValueError, match="given twice"):
        Settings(upstreams="a=http://h:1,a=http://h:2")
    with pytest.raises(ValueError, match="MODEL_GLOB"):
        Settings(upstreams="a=http://h:1", route_rules="nonsense")


def test_one_upstream_is_one_node_named_host_port() -> None:
    settings = Settings(upstream="http://127.0.0.1:11434")
    assert [(n.name, n.url) for n in settings.nodes] == [
        ("127.0.0.1:11434", "http://127.0.0.1:11434")
    ]


def test_repeated_upstream_flags_make_a_fleet() -> None:
    from ollama_proxy.cli import SERVE_FLAGS, build_parser, settings_from_args

    args = build_parser().parse_args(
        ["serve", "--upstream", "gpu1=http://10.0.0.5:11434", "--upstream", "10.0.0.6:11434"]
    )
    settings = settings_from_args(args, SERVE_FLAGS)
    assert [n.name for n in settings.nodes] == ["gpu1", "10.0.0.6:11434"]
    one = settings_from_args(build_parser().parse_args(["serve", "--upstream", "h:1"]), SERVE_FLAGS)
    assert [(n.name, n.url) for n in one.nodes] == [("h:1", "http://h:1")]
