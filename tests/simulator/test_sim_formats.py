"""The builders against the shapes of ollama-api.md §7 and §7b, byte for byte.

The docs' examples are hand-edited (§7's caveat), so where a doc line differs from the Go struct
order or from what current servers add, the expected bytes below say why."""

from __future__ import annotations

import struct

from ollama_proxy.simulator import anthropic, gojson, native, openai, responses
from ollama_proxy.simulator.config import ModelSpec
from ollama_proxy.simulator.native import Metrics
from ollama_proxy.simulator.scheduler import Residency


def _ns(rfc3339: str) -> int:
    """Nanoseconds of a `...Z` timestamp (test helper, UTC only)."""
    import calendar
    import time

    base, _, fraction = rfc3339.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def metrics(created: str, reason: str = "stop", **values: int) -> Metrics:
    return Metrics(
        created_ns=_ns(created),
        total_ns=values.get("total", 0),
        load_ns=values.get("load", 0),
        prompt_eval_count=values.get("prompt", 0),
        prompt_eval_cached_count=values.get("cached", 0),
        prompt_eval_ns=values.get("prompt_ns", 0),
        eval_count=values.get("eval", 0),
        eval_ns=values.get("eval_ns", 0),
        done_reason=reason,
    )


def test_f2_non_streaming_generate_with_usage() -> None:
    m = metrics(
        "2025-10-17T23:14:07.414671Z",
        total=174560334,
        load=101397084,
        prompt=11,
        prompt_ns=13074791,
        eval=18,
        eval_ns=52479709,
    )
    body = native.NativeGenerate("gemma4", None, cached=True).body(
        "Hello! How can I help you today?", m
    )
    assert body == (
        b'{"model":"gemma4","created_at":"2025-10-17T23:14:07.414671Z","response":"Hello! How '
        b'can I help you today?","done":true,"done_reason":"stop","total_duration":174560334,'
        b'"load_duration":101397084,"prompt_eval_count":11,"prompt_eval_duration":13074791,'
        b'"eval_count":18,"eval_duration":52479709}'
    )  # no trailing newline: gin's c.JSON


def test_f4_chat_final_chunk_as_current_servers_send_it() -> None:
    m = metrics(
        "2023-08-04T19:22:45.499127Z",
        total=4883583458,
        load=1334875,
        prompt=26,
        prompt_ns=342546000,
        eval=282,
        eval_ns=4535599000,
    )
    [line] = native.NativeChat("llama3.2", cached=True).final("ignored text", m)
    # F4 plus the "done_reason":"stop" current servers emit (the note under F4).
    assert line == (
        b'{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":'
        b'"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,'
        b'"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,'
        b'"eval_count":282,"eval_duration":4535599000}\n'
    )


def test_f6_generate_final_chunk_carries_context_after_done_reason() -> None:
    m = metrics(
        "2023-08-04T19:22:45.499127Z",
        total=10706818083,
        load=6338219291,
        prompt=26,
        prompt_ns=130079000,
        eval=259,
        eval_ns=4232710000,
    )
    [line] = native.NativeGenerate("llama3.2", [1, 2, 3], cached=True).final("", m)
    assert line == (
        b'{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","response":"",'
        b'"done":true,"done_reason":"stop","context":[1,2,3],"total_duration":10706818083,'
        b'"load_duration":6338219291,"prompt_eval_count":26,"prompt_eval_duration":130079000,'
        b'"eval_count":259,"eval_duration":4232710000}\n'
    )


def test_zero_metrics_are_absent_and_cached_count_follows_prompt_eval_count() -> None:
    m = metrics("2025-10-26T17:21:21Z", "length", total=5, prompt=12, cached=8, eval=3)
    done = native.NativeChat("m", cached=True).body("x", m)
    assert b'"prompt_eval_count":12,"prompt_eval_cached_count":8,"eval_count":3}' in done
    assert b"load_duration" not in done and b"eval_duration" not in done
    assert b"prompt_eval_cached_count" not in native.NativeChat("m", cached=False).body("x", m)


def test_f1_f3_stream_chunks_and_mid_stream_error_line() -> None:
    flavor = native.NativeGenerate("gemma4", None, cached=True)
    [chunk] = flavor.frames(0, " Yes")
    head, _, rest = chunk.partition(b'","response"')
    assert head.startswith(b'{"model":"gemma4","created_at":"') and head.endswith(b"Z")
    assert rest == b':" Yes","done":false}\n'
    assert flavor.error_frames("an error was encountered while running the model") == [
        b'{"error":"an error was encountered while running the model"}\n'
    ]


def test_stream_chunks_escape_html_like_go() -> None:
    [chunk] = native.NativeChat("m", cached=True).frames(0, ' <b> & "q"')
    assert b'"content":" \\u003cb\\u003e \\u0026 \\"q\\""' in chunk


def test_f7_load_and_unload_replies_in_struct_order() -> None:
    # F7 shows done_reason before done; Go writes struct order: done, then done_reason.
    load = native.load_reply("llama3.2", "load", chat=True)
    assert load.startswith(b'{"model":"llama3.2","created_at":"')
    assert load.endswith(
        b'","message":{"role":"assistant","content":""},"done":true,"done_reason":"load"}'
    )
    unload = native.load_reply("llama3.2", "unload", chat=False)
    assert unload.endswith(b'","response":"","done":true,"done_reason":"unload"}')


def test_f8_ps_entry() -> None:
    spec = ModelSpec(
        "gemma4",
        size=6591830464,
        size_vram=5333539264,
        family="gemma4",
        parameter_size="8.0B",
        digest_hex="c6eb396dbd5992bbe3f5cdb947e8bbc0ee413d7c17e2beaae69f5d569cf982eb",
    )
    residency = Residency(
        spec,
        semaphore=None,
        keep_alive_s=300,  # type: ignore[arg-type]
        loaded_at_ns=0,
        expires_at_ns=_ns("2025-10-17T23:47:07.93355Z"),
    )
    body = native.ps_body([residency])
    expires = gojson.rfc3339nano(residency.expires_at_ns, utc=False).encode()
    assert body == (
        b'{"models":[{"name":"gemma4","model":"gemma4","size":6591830464,"digest":"c6eb396dbd'
        b'5992bbe3f5cdb947e8bbc0ee413d7c17e2beaae69f5d569cf982eb","details":{"parent_model":'
        b'"","format":"gguf","family":"gemma4","families":["gemma4"],"parameter_size":"8.0B",'
        b'"quantization_level":"Q4_K_M"},"expires_at":"' + expires + b'","size_vram":5333539264,'
        b'"context_length":4096}]}'
    )
    assert native.ps_body([]) == b'{"models":[]}'


def test_f9_tags_entry() -> None:
    spec = ModelSpec(
        "llama3.2:latest",
        digest_hex="a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
    )
    modified = gojson.rfc3339nano(spec.modified_at_ns, utc=False).encode()
    assert native.tags_body([spec]) == (
        b'{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"'
        + modified
        + b'","size":2019393189,"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab27'
        b'9d83f3bcd3abbcb5b8b72","details":{"parent_model":"","format":"gguf","family":"llama",'
        b'"families":["llama"],"parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}'
    )


def test_f10_pull_progress_lines() -> None:
    assert native.progress_line("pulling manifest") == b'{"status":"pulling manifest"}\n'
    assert native.progress_line("pulling digestname", "digestname", 2142590208, 241970) == (
        b'{"status":"pulling digestname","digest":"digestname","total":2142590208,'
        b'"completed":241970}\n'
    )
    lines = native.pull_lines(ModelSpec("x"))
    assert lines[0] == b'{"status":"pulling manifest"}\n'
    assert lines[-3:] == [
        b'{"status":"verifying sha256 digest"}\n',
        b'{"status":"writing manifest"}\n',
        b'{"status":"success"}\n',
    ]
    assert b'"completed"' not in lines[1], "completed is omitted while it is 0"


def test_f11_embed_body() -> None:
    values = [
        struct.unpack("<f", struct.pack("<f", v))[0]
        for v in (0.010071029, -0.0017594862, 0.05007221)
    ]
    vector = b"[" + b",".join(gojson.go_float32(v) for v in values) + b"]"
    m = metrics("2025-10-26T17:21:21Z", "", total=14143917, load=1019500, prompt=8)
    assert native.embed_body("all-minilm", [vector], m) == (
        b'{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862,0.05007221]],'
        b'"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}'
    )


F7B_CHAT_STREAM = (
    b'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1760000000,"model":'
    b'"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":'
    b'"assistant","content":"Hello"},"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1760000000,"model":'
    b'"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"content":"!"},'
    b'"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1760000000,"model":'
    b'"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{},'
    b'"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1760000000,"model":'
    b'"llama3.2","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":26,'
    b'"completion_tokens":2,"total_tokens":28}}\n\n'
    b"data: [DONE]\n\n"
)


def _fixed_chat(include_usage: bool) -> openai.ChatCompletions:
    flavor = openai.ChatCompletions("llama3.2", include_usage)
    # Pin the random id and the clock to the fixture's placeholders.
    real_id, real_created = flavor.id, str(flavor.created).encode()
    flavor.id, flavor.created = "chatcmpl-123", 1760000000
    flavor._head = flavor._head.replace(real_id.encode(), b"chatcmpl-123").replace(
        real_created, b"1760000000"
    )
    return flavor


def test_f7b_chat_completions_stream_with_usage() -> None:
    flavor = _fixed_chat(include_usage=True)
    m = metrics("2025-10-09T08:53:20Z", prompt=26, eval=2)
    frames = flavor.frames(0, "Hello") + flavor.frames(1, "!") + flavor.final("Hello!", m)
    assert b"".join(frames) == F7B_CHAT_STREAM


def test_chat_completions_stream_without_usage_has_no_usage_chunk() -> None:
    frames = _fixed_chat(include_usage=False).final("x", metrics("2025-10-09T08:53:20Z"))
    assert frames[-1] == b"data: [DONE]\n\n" and len(frames) == 2
    assert b"usage" not in b"".join(frames)


def test_f7b_chat_completion_non_streaming_ends_with_newline() -> None:
    flavor = _fixed_chat(include_usage=False)
    m = metrics("2025-10-09T08:53:20Z", prompt=26, eval=3)
    assert flavor.body("Hello!", m) == (
        b'{"id":"chatcmpl-123","object":"chat.completion","created":1760000000,"model":"llama3.2",'
        b'"system_fingerprint":"fp_ollama","choices":[{"index":0,"message":{"role":"assistant",'
        b'"content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":26,'
        b'"completion_tokens":3,"total_tokens":29}}\n'
    )


def test_completions_quirk_zero_usage_on_every_chunk_then_real_usage() -> None:
    flavor = openai.Completions("llama3.2", include_usage=True)
    frames = flavor.frames(0, "Hi") + flavor.final(
        "Hi", metrics("2025-10-09T08:53:20Z", "stop", prompt=5, eval=1)
    )
    zero = b'"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}\n\n'
    assert frames[0].endswith(zero) and frames[1].endswith(zero)
    assert (
        b'"choices":[{"text":"Hi","index":0,"finish_reason":null}],"model":"llama3.2",'
        b'"system_fingerprint":"fp_ollama","usage"' in frames[0]
    )
    assert b'"choices":[],' in frames[2]
    assert frames[2].endswith(
        b'"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n'
    )
    assert frames[3] == b"data: [DONE]\n\n"


def test_v1_models_and_errors() -> None:
    spec = ModelSpec("llama3.2:latest", modified_at_ns=1_746_405_464_706_015_396)
    assert openai.models_body([spec]) == (
        b'{"object":"list","data":[{"id":"llama3.2:latest","object":"model","created":1746405464,'
        b'"owned_by":"library"}]}\n'
    )
    assert openai.models_body([]) == b'{"object":"list","data":null}\n'
    assert openai.error_body(404, "model 'x' not found") == (
        b'{"error":{"message":"model \'x\' not found","type":"not_found_error","param":null,'
        b'"code":null}}\n'
    )
    assert openai.owned_by("me/model:tag") == "me"


def test_responses_events_are_sorted_maps_with_sequence_numbers() -> None:
    flavor = responses.Responses("llama3.2", {"input": "hi"})
    first = flavor.frames(0, "Hi")
    names = [f.split(b"\n", 1)[0] for f in first]
    assert names == [
        b"event: response.created",
        b"event: response.in_progress",
        b"event: response.output_item.added",
        b"event: response.content_part.added",
        b"event: response.output_text.delta",
    ]
    assert first[4] == (
        b'event: response.output_text.delta\ndata: {"content_index":0,"delta":"Hi","item_id":"'
        + flavor.item_id.encode()
        + b'","logprobs":[],"output_index":0,"sequence_number":4,'
        b'"type":"response.output_text.delta"}\n\n'
    )
    final = flavor.final("Hi", metrics("2025-10-09T08:53:20Z", prompt=7, eval=1))
    assert final[-1].startswith(b'event: response.completed\ndata: {"response":{')
    assert (
        b'"usage":{"input_tokens":7,"input_tokens_details":{"cached_tokens":0},'
        b'"output_tokens":1,"output_tokens_details":{"reasoning_tokens":0},'
        b'"total_tokens":8}'
    ) in final[-1]
    assert final[-1].endswith(b'"sequence_number":8,"type":"response.completed"}\n\n')


def test_anthropic_stream_estimate_then_real_usage() -> None:
    flavor = anthropic.Messages("llama3.2", estimated_input_tokens=3)
    first = flavor.frames(0, "Hi")
    assert first[0] == (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"'
        + flavor.id.encode()
        + b'","type":"message","role":"assistant","model":"llama3.2",'
        b'"content":[],"usage":{"input_tokens":3,"output_tokens":0}}}\n\n'
    )
    assert first[1] == (
        b'event: content_block_start\ndata: {"type":"content_block_start",'
        b'"index":0,"content_block":{"type":"text","text":""}}\n\n'
    )
    final = flavor.final("Hi", metrics("2025-10-09T08:53:20Z", "length", prompt=26, eval=1))
    assert final == [
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
        b'"max_tokens"},"usage":{"input_tokens":26,"output_tokens":1}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]
    assert anthropic.error_body(404, "nope").startswith(
        b'{"type":"error","error":{"type":"not_found_error","message":"nope"},"request_id":"req_'
    )
