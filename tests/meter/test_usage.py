"""Usage extraction per API flavour, derived rates, error shapes and oversized salvage."""

from __future__ import annotations

import orjson
import pytest

from ollama_proxy.meter import usage as u


def test_native_missing_metrics_are_zero_not_unknown() -> None:
    got = u.native({"done": True, "done_reason": "stop", "model": "m"})
    assert (got.prompt_tokens, got.completion_tokens, got.cached_tokens) == (0, 0, 0)
    assert (got.total_ms, got.load_ms, got.prompt_eval_ms, got.eval_ms) == (0.0, 0.0, 0.0, 0.0)
    assert got.done_reason == "stop" and got.model == "m"


def test_native_durations_are_nanoseconds() -> None:
    got = u.native({"total_duration": 2_500_000_000, "eval_duration": 1_000_000})
    assert got.total_ms == 2500.0 and got.eval_ms == 1.0


def test_native_cached_count_when_the_server_sends_it() -> None:
    got = u.native({"prompt_eval_count": 100, "prompt_eval_cached_count": 80})
    assert (got.prompt_tokens, got.cached_tokens) == (100, 80)


@pytest.mark.parametrize("bad", [True, -5, "12", None, [1], {"a": 1}])
def test_counts_that_are_not_counts_become_zero(bad: object) -> None:
    assert u.native({"eval_count": bad}).completion_tokens == 0


def test_non_dict_input_gives_empty_usage() -> None:
    for value in (None, [], "x", 3):
        assert u.native(value) == u.Usage(0, 0, 0, 0.0, 0.0, 0.0, 0.0, "", "")
        assert u.openai(value).prompt_tokens == 0 and u.error_message(value) is None


def test_embed_has_no_eval_phases() -> None:
    got = u.native_embed({"prompt_eval_count": 8, "total_duration": 3_000_000})
    assert got.prompt_tokens == 8 and got.total_ms == 3.0
    assert got.prompt_eval_ms is None and u.queue_wait_ms(got) is None


def test_openai_usage_with_cached_tokens_and_finish_reason() -> None:
    obj = {
        "model": "m",
        "choices": [{"finish_reason": "length"}],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 6},
        },
    }
    got = u.openai(obj)
    assert (got.prompt_tokens, got.completion_tokens, got.cached_tokens) == (9, 4, 6)
    assert got.done_reason == "length" and got.total_ms is None


def test_openai_output_detection() -> None:
    kind = u.openai_output_kind
    assert kind({"choices": [{"delta": {"content": "x"}}]}) == (False, True)
    assert kind({"choices": [{"delta": {"reasoning": "hm"}}]}) == (True, False)
    assert kind({"choices": [{"delta": {"tool_calls": [{}]}}]}) == (False, True)
    assert kind({"choices": [{"text": "x"}]}) == (False, True)
    assert kind({"choices": [{"delta": {}, "finish_reason": "stop"}]}) == (False, False)
    assert kind({"choices": []}) == (False, False)


def test_responses_usage_and_reasons() -> None:
    usage = {"input_tokens": 5, "output_tokens": 7, "input_tokens_details": {"cached_tokens": 2}}
    done = u.responses(
        {"type": "response.completed", "response": {"status": "completed", "usage": usage}}
    )
    assert (done.prompt_tokens, done.completion_tokens, done.cached_tokens) == (5, 7, 2)
    assert done.done_reason == "stop"
    cut = u.responses(
        {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    )
    assert cut.done_reason == "length"


def test_anthropic_input_tokens_exclude_cache_reads() -> None:
    obj = {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use"},
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 30,
            "cache_creation_input_tokens": 5,
            "output_tokens": 3,
        },
    }
    got = u.anthropic(obj)
    assert (got.prompt_tokens, got.cached_tokens, got.completion_tokens) == (45, 30, 3)
    assert got.done_reason == "tool_calls"
    assert u.anthropic({"stop_reason": "end_turn", "usage": {}}).done_reason == "stop"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error":"model \'x\' not found"}', "model 'x' not found"),
        (b'{"error":{"message":"bad","type":"invalid_request_error"}}', "bad"),
        (b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}', "busy"),
        (b'{"type":"error","code":"server_error","message":"boom"}', "boom"),
        (b'{"type":"response.failed","response":{"error":{"message":"died"}}}', "died"),
        (b'{"error":""}', "error"),
        (b'{"model":"m","done":true}', None),
    ],
)
def test_error_shapes(body: bytes, message: str | None) -> None:
    assert u.error_message(orjson.loads(body)) == message


def test_rates() -> None:
    usage = u.Usage(prompt_tokens=100, completion_tokens=50, prompt_eval_ms=200.0, eval_ms=1000.0)
    assert u.decode_tps(usage) == 50.0 and u.prefill_tps(usage) == 500.0
    assert u.decode_tps(u.Usage(completion_tokens=5, eval_ms=0.0)) is None
    assert u.prefill_tps(u.Usage(prompt_eval_ms=10.0)) is None


def test_queue_wait_is_the_unexplained_rest_and_never_negative() -> None:
    usage = u.Usage(total_ms=100.0, load_ms=10.0, prompt_eval_ms=20.0, eval_ms=30.0)
    assert u.queue_wait_ms(usage) == 40.0
    usage.total_ms = 50.0  # rounding in Ollama's clocks can make the parts exceed the total
    assert u.queue_wait_ms(usage) == 0.0
    assert u.queue_wait_ms(u.Usage(total_ms=0.0, prompt_eval_ms=0.0, eval_ms=0.0)) is None


def test_salvage_from_head_and_tail() -> None:
    head = b'{"model":"llama3.2","created_at":"t","response":"xxxx'
    tail = b'xx","done":true,"done_reason":"stop","context":[1,2],'
    tail += b'"prompt_eval_count":12,"eval_count":3}'
    got = u.salvage(head, tail)
    assert got["model"] == "llama3.2" and got["done"] is True and got["done_reason"] == "stop"
    native = u.native(got)
    assert (native.prompt_tokens, native.completion_tokens) == (12, 3)
    openai = u.openai(u.salvage(b"{", b'"usage":{"prompt_tokens":4,"total_tokens":4}}'))
    assert openai.prompt_tokens == 4
