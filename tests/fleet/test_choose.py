"""Routing decisions, pure: tiers, ties, affinity, pinning, forcing, ejection."""

from __future__ import annotations

import pytest

from ollama_proxy.fleet.choose import NoNode, UnknownNode, rank
from ollama_proxy.fleet.facts import Facts
from ollama_proxy.fleet.nodes import GIB, Fleet
from ollama_proxy.fleet.spec import NodeSpec, parse_rules

LLAMA, QWEN = "llama3.2:latest", "qwen3:0.6b"


def make_fleet(n: int = 3, **kwargs: object) -> Fleet:
    specs = [NodeSpec(f"n{i}", f"http://127.0.0.{i + 2}:11434") for i in range(n)]
    return Fleet(specs, **kwargs)  # type: ignore[arg-type]


def ps(*models: tuple[str, int]) -> dict[str, object]:
    return {"models": [{"name": m, "size_vram": size} for m, size in models]}


def tags(*models: tuple[str, int]) -> dict[str, object]:
    return {"models": [{"name": m, "size": size} for m, size in models]}


def first(fleet: Fleet, model: str, **kw: object) -> tuple[str, str]:
    top = rank(fleet, Facts(model, kw.get("affinity")), kw.get("forced"))[0]  # type: ignore[arg-type]
    return top.node.name, top.reason


def test_loaded_with_a_free_slot_wins_over_on_disk() -> None:
    fleet = make_fleet()
    for node in fleet.nodes:
        fleet.apply_tags(node, tags((LLAMA, 2 * GIB), (QWEN, GIB)))
    fleet.apply_ps(fleet.nodes[2], ps((LLAMA, 2 * GIB)))
    assert first(fleet, LLAMA) == ("n2", "loaded")


def test_busy_loaded_node_beats_a_cold_load_and_a_free_one_beats_busy() -> None:
    fleet = make_fleet()
    for node in fleet.nodes:
        fleet.apply_tags(node, tags((LLAMA, 2 * GIB)))
    fleet.apply_ps(fleet.nodes[0], ps((LLAMA, 2 * GIB)))
    fleet.apply_ps(fleet.nodes[1], ps((LLAMA, 2 * GIB)))
    fleet.dispatch(fleet.nodes[0], LLAMA)  # n0's only slot taken
    assert first(fleet, LLAMA) == ("n1", "loaded")
    fleet.dispatch(fleet.nodes[1], LLAMA)
    fleet.dispatch(fleet.nodes[1], LLAMA)  # n1 has a queue of one
    assert first(fleet, LLAMA) == ("n0", "busy")  # shortest expected wait, not a cold load


def test_cold_model_goes_to_the_node_with_vram_to_spare() -> None:
    fleet = make_fleet(2)
    for node in fleet.nodes:
        fleet.apply_tags(node, tags((LLAMA, 2 * GIB), (QWEN, GIB)))
    fleet.apply_ps(fleet.nodes[0], ps((LLAMA, 2 * GIB)))  # full: learned capacity 2 GiB
    fleet.apply_ps(fleet.nodes[1], ps())
    assert first(fleet, QWEN) == ("n1", "on_disk")
    fleet.apply_ps(fleet.nodes[1], ps((LLAMA, 2 * GIB)))
    assert first(fleet, QWEN) == ("n0", "evict")  # both would evict: fewest in flight, index


def test_configured_vram_makes_room_for_a_second_model() -> None:
    fleet = make_fleet(2, vram_gb={"n0": 24})
    for node in fleet.nodes:
        fleet.apply_tags(node, tags((LLAMA, 2 * GIB), (QWEN, GIB)))
        fleet.apply_ps(node, ps((LLAMA, 2 * GIB)))
    assert first(fleet, QWEN) == ("n0", "on_disk")


def test_a_node_without_the_model_is_never_chosen_while_another_has_it() -> None:
    fleet = make_fleet(3)
    fleet.apply_tags(fleet.nodes[2], tags((QWEN, GIB)))
    for _ in range(5):
        fleet.dispatch(fleet.nodes[2], QWEN)
    names = [c.node.name for c in rank(fleet, Facts(QWEN))]
    assert names == ["n2"]


def test_a_model_no_node_has_goes_to_the_least_busy() -> None:
    fleet = make_fleet(3)
    fleet.dispatch(fleet.nodes[0], LLAMA)
    fleet.dispatch(fleet.nodes[1], LLAMA)
    assert first(fleet, "gemma3:1b") == ("n2", "absent")


def test_ties_go_to_the_least_in_flight() -> None:
    fleet = make_fleet(3)
    for node in fleet.nodes:
        fleet.apply_tags(node, tags((LLAMA, GIB)))
        fleet.apply_ps(node, ps((LLAMA, GIB)))
        node.slots_configured = 4
    fleet.dispatch(fleet.nodes[0], QWEN)
    fleet.dispatch(fleet.nodes[1], QWEN)
    assert first(fleet, LLAMA) == ("n2", "loaded")


def test_affinity_holds_while_the_node_stays_in_the_best_tier() -> None:
    fleet = make_fleet(2)
    for node in fleet.nodes:
        fleet.apply_tags(node, tags((LLAMA, GIB)))
        fleet.apply_ps(node, ps((LLAMA, GIB)))
    fleet.remember(42, fleet.nodes[1])
    assert first(fleet, LLAMA, affinity=42) == ("n1", "affinity")
    ticket = fleet.dispatch(fleet.nodes[1], LLAMA)  # now busy, n0 is free: leave
    assert first(fleet, LLAMA, affinity=42) == ("n0", "loaded")
    fleet.release(ticket, 0.0, False)
    assert first(fleet, LLAMA, affinity=42) == ("n1", "affinity")


def test_pinning_restricts_the_nodes_and_names_the_reason() -> None:
    fleet = make_fleet(3, rules=parse_rules(["llama3*=n1|n2"]))
    fleet.apply_tags(fleet.nodes[0], tags((LLAMA, GIB)))
    fleet.apply_ps(fleet.nodes[0], ps((LLAMA, GIB)))
    assert {c.node.name for c in rank(fleet, Facts(LLAMA))} == {"n1", "n2"}
    assert first(fleet, LLAMA)[1] == "pinned"
    assert first(fleet, QWEN)[1] == "absent"  # no rule matches: ordinary routing


def test_pinning_to_unknown_nodes_only_is_refused() -> None:
    fleet = make_fleet(2)
    fleet.rules = parse_rules(["q*=ghost"])
    with pytest.raises(NoNode):
        rank(fleet, Facts(QWEN))


def test_forced_node_and_unknown_name() -> None:
    fleet = make_fleet(3)
    assert first(fleet, LLAMA, forced="n1") == ("n1", "forced")
    with pytest.raises(UnknownNode):
        rank(fleet, Facts(LLAMA), "nope")


def test_ejected_nodes_are_skipped_until_readmitted() -> None:
    fleet = make_fleet(2, eject_after=2)
    for node in fleet.nodes:
        fleet.apply_tags(node, tags((LLAMA, GIB)))
    fleet.apply_ps(fleet.nodes[0], ps((LLAMA, GIB)))
    fleet.connect_failed(fleet.nodes[0])
    assert fleet.nodes[0].healthy  # one failure is not enough
    fleet.connect_failed(fleet.nodes[0])
    assert not fleet.nodes[0].healthy
    assert [c.node.name for c in rank(fleet, Facts(LLAMA))] == ["n1"]
    fleet.apply_ps(fleet.nodes[0], ps((LLAMA, GIB)))  # a probe answered
    assert first(fleet, LLAMA) == ("n0", "loaded")


def test_all_ejected_still_tries_them() -> None:
    fleet = make_fleet(2, eject_after=1)
    for node in fleet.nodes:
        fleet.connect_failed(node)
    assert len(rank(fleet, Facts(LLAMA))) == 2


def test_one_node_is_the_only_choice() -> None:
    fleet = make_fleet(1)
    assert first(fleet, LLAMA) == ("n0", "only")


def test_requests_without_a_model_go_to_the_least_busy() -> None:
    fleet = make_fleet(2)
    fleet.dispatch(fleet.nodes[0], "")
    assert first(fleet, "") == ("n1", "any")


def test_slots_are_learned_from_queue_waits() -> None:
    fleet = make_fleet(1)
    node = fleet.nodes[0]
    tickets = [fleet.dispatch(node, LLAMA) for _ in range(3)]
    fleet.release(tickets[2], 0.0, False)  # third ran at once: at least 3 slots
    assert node.slots == 3
    fleet.release(tickets[1], 0.0, False)
    ticket = fleet.dispatch(node, LLAMA)  # 2 in flight now... plus this one
    more = [fleet.dispatch(node, LLAMA) for _ in range(2)]  # 4 at once
    fleet.release(more[-1], 900.0, False)  # the fourth waited: 3 slots
    assert node.slots == 3 and node.inflight == 3
    for t in (tickets[0], ticket, more[0]):
        fleet.release(t, None, False)
    assert node.inflight == 0 and node.inflight_models == {}


def test_a_cold_dispatch_kicks_a_ps_poll_when_it_ends() -> None:
    fleet = make_fleet(2)
    kicked: list[str] = []
    fleet.on_loaded = lambda node: kicked.append(node.name)
    ticket = fleet.dispatch(fleet.nodes[1], QWEN)
    fleet.release(ticket, 0.0, False)
    assert kicked == ["n1"] and fleet.nodes[1].cold_loads == 1
