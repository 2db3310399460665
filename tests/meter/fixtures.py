# ruff: noqa: E501  (fixtures are literal wire bytes, one line each as on the wire)
"""Recorded response bodies: ollama-api.md §7 (F1-F11), §7b, and shapes built from its rules.

Each Fixture says what the meter must make of it (`expect`: RequestRecord field -> value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Fixture:
    name: str
    path: str
    content_type: str
    body: bytes
    expect: dict[str, Any]
    status: int = 200
    request: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


def lines(*items: str) -> bytes:
    return "".join(item + "\n" for item in items).encode()


def sse(*frames: tuple[str, str] | str) -> bytes:
    """SSE frames: a bare string is `data: X`, a pair is `event: NAME` + `data: X`."""
    out = []
    for frame in frames:
        if isinstance(frame, tuple):
            out.append(f"event: {frame[0]}\ndata: {frame[1]}\n\n")
        else:
            out.append(f"data: {frame}\n\n")
    return "".join(out).encode()


F1 = Fixture(
    "F1 streamed generate",
    "/api/generate",
    NDJSON,
    lines(
        '{"model":"gemma4","created_at":"2025-10-26T17:15:24.097767Z","response":"That","done":false}',
        '{"model":"gemma4","created_at":"2025-10-26T17:15:24.109172Z","response":"\'","done":false}',
        '{"model":"gemma4","created_at":"2025-10-26T17:15:24.166576Z","response":"!","done":true, "done_reason": "stop"}',
    ),
    # The doc's final chunk carries text and no metrics: missing metrics mean 0, not unknown.
    {
        "status": "success",
        "stream": True,
        "estimated": False,
        "model": "gemma4:latest",
        "chunks": 3,
        "done_reason": "stop",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_duration_ms": 0.0,
        "decode_tps": None,
        "queue_wait_ms": None,
    },
    request=b'{"model":"gemma4","prompt":"Why?"}',
)

F2 = Fixture(
    "F2 non-streaming generate",
    "/api/generate",
    JSON,
    b'{"model":"gemma4","created_at":"2025-10-17T23:14:07.414671Z","response":"Hello! How can I help you today?","done":true,"done_reason":"stop","total_duration":174560334,"load_duration":101397084,"prompt_eval_count":11,"prompt_eval_duration":13074791,"eval_count":18,"eval_duration":52479709}',
    {
        "status": "success",
        "stream": False,
        "estimated": False,
        "model": "gemma4:latest",
        "prompt_tokens": 11,
        "completion_tokens": 18,
        "done_reason": "stop",
        "total_duration_ms": 174.560334,
        "load_duration_ms": 101.397084,
        "prompt_eval_duration_ms": 13.074791,
        "eval_duration_ms": 52.479709,
        "decode_tps": 18 / 0.052479709,
        "prefill_tps": 11 / 0.013074791,
        "queue_wait_ms": (174560334 - 101397084 - 13074791 - 52479709) / 1e6,
        "ttft_ms": None,
    },
    request=b'{"model":"gemma4","prompt":"hi","stream":false}',
)

F3 = Fixture(
    "F3 mid-stream error",
    "/api/generate",
    NDJSON,
    lines(
        '{"model":"gemma4","created_at":"2025-10-26T17:21:21.196249Z","response":" Yes","done":false}',
        '{"model":"gemma4","created_at":"2025-10-26T17:21:21.207235Z","response":".","done":false}',
        '{"error":"an error was encountered while running the model"}',
    ),
    {
        "status": "error",
        "error_type": "stream_error",
        "error_message": "an error was encountered while running the model",
        "http_status": 200,
        "estimated": True,
        "completion_tokens": 2,
        "chunks": 2,
        "model": "gemma4:latest",
    },
)

F4 = Fixture(
    "F4 chat stream",
    "/api/chat",
    NDJSON,
    lines(
        '{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":"The","images":null},"done":false}',
        '{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant","content":""},"done":true,"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}',
    ),
    {
        "status": "success",
        "prompt_tokens": 26,
        "completion_tokens": 282,
        "chunks": 1,
        "eval_duration_ms": 4535.599,
        "decode_tps": 282 / 4.535599,
        "done_reason": "",
    },
)

F5 = Fixture(
    "F5 streamed tool call",
    "/api/chat",
    NDJSON,
    lines(
        '{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":false}',
        '{"model":"llama3.2","created_at":"2025-07-07T20:22:19.19314Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":182242375,"load_duration":41295167,"prompt_eval_count":169,"prompt_eval_duration":24573166,"eval_count":15,"eval_duration":115959084}',
    ),
    {"status": "success", "prompt_tokens": 169, "completion_tokens": 15, "chunks": 1},
)

F6 = Fixture(
    "F6 generate final chunk with context",
    "/api/generate",
    NDJSON,
    lines(
        '{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","response":"","done":true,"context":[1,2,3],"total_duration":10706818083,"load_duration":6338219291,"prompt_eval_count":26,"prompt_eval_duration":130079000,"eval_count":259,"eval_duration":4232710000}',
    ),
    {
        "status": "success",
        "prompt_tokens": 26,
        "completion_tokens": 259,
        "chunks": 0,
        "ttft_ms": None,
        "load_duration_ms": 6338.219291,
    },
)

F7_LOAD = Fixture(
    "F7 load",
    "/api/chat",
    JSON,
    b'{"model":"llama3.2","created_at":"2024-09-12T21:17:29.110811Z","message":{"role":"assistant","content":""},"done_reason":"load","done":true}',
    {"status": "success", "done_reason": "load", "estimated": False, "completion_tokens": 0},
    request=b'{"model":"llama3.2","messages":[]}',
)

F7_UNLOAD = Fixture(
    "F7 unload",
    "/api/generate",
    JSON,
    b'{"model":"llama3.2","created_at":"2024-09-12T03:54:03.516566Z","response":"","done":true,"done_reason":"unload"}',
    {"status": "success", "done_reason": "unload", "stream": False, "model": "llama3.2:latest"},
    request=b'{"model":"llama3.2","keep_alive":0}',
)

F8 = Fixture(
    "F8 ps",
    "/api/ps",
    JSON,
    b'{"models":[{"name":"gemma4","model":"gemma4","size":6591830464,"digest":"c6eb396dbd5992bbe3f5cdb947e8bbc0ee413d7c17e2beaae69f5d569cf982eb","details":{"parent_model":"","format":"gguf","family":"gemma4","families":["gemma4"],"parameter_size":"8.0B","quantization_level":"Q4_K_M"},"expires_at":"2025-10-17T16:47:07.93355-07:00","size_vram":5333539264,"context_length":4096}]}',
    {"status": "success", "estimated": False, "model": "", "prompt_tokens": 0, "chunks": 0},
)

F9 = Fixture(
    "F9 tags",
    "/api/tags",
    JSON,
    b'{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2025-05-04T17:37:44.706015396-07:00","size":2019393189,"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72","details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}',
    {"status": "success", "estimated": False, "model": ""},
)

F10 = Fixture(
    "F10 pull progress",
    "/api/pull",
    NDJSON,
    lines(
        '{"status":"pulling manifest"}',
        '{"status":"pulling digestname","digest":"digestname","total":2142590208,"completed":241970}',
        '{"status":"verifying sha256 digest"}',
        '{"status":"writing manifest"}',
        '{"status":"success"}',
    ),
    {
        "status": "success",
        "stream": True,
        "estimated": False,
        "model": "llama3.2:latest",
        "model_requested": "llama3.2",
        "chunks": 5,
        # Regression: progress lines were counted as completion tokens (24 on one pull).
        "completion_tokens": 0,
        "usage_source": "none",
    },
    request=b'{"model":"llama3.2"}',
)

F10_ERROR = Fixture(
    "F10 pull failing mid-stream",
    "/api/pull",
    NDJSON,
    lines('{"status":"pulling manifest"}', '{"error":"pull model manifest: file does not exist"}'),
    {
        "status": "error",
        "error_type": "stream_error",
        "error_message": "pull model manifest: file does not exist",
        "estimated": False,
    },
    request=b'{"model":"nope"}',
)

F11 = Fixture(
    "F11 embed",
    "/api/embed",
    JSON,
    b'{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862,0.05007221]],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}',
    {
        "status": "success",
        "prompt_tokens": 8,
        "completion_tokens": 0,
        "estimated": False,
        "total_duration_ms": 14.143917,
        "prompt_eval_duration_ms": None,
        "queue_wait_ms": None,
        "model": "all-minilm:latest",
    },
)

EMBEDDINGS_LEGACY = Fixture(
    "/api/embeddings reports no usage at all",
    "/api/embeddings",
    JSON,
    b'{"embedding":[0.5,-0.25]}',
    {
        "status": "success",
        "estimated": False,
        "usage_source": "none",
        "prompt_tokens": 0,
        "model": "all-minilm:latest",
    },
    request=b'{"model":"all-minilm","prompt":"x"}',
)

_CHUNK = '{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1760000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":%s}'

OPENAI_CHAT_STREAM = Fixture(
    "§7b chat completions stream with include_usage",
    "/v1/chat/completions",
    SSE,
    sse(
        _CHUNK
        % '[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]',
        _CHUNK % '[{"index":0,"delta":{"content":"!"},"finish_reason":null}]',
        _CHUNK % '[{"index":0,"delta":{},"finish_reason":"stop"}]',
        _CHUNK % '[],"usage":{"prompt_tokens":26,"completion_tokens":2,"total_tokens":28}',
        "[DONE]",
    ),
    {
        "status": "success",
        "stream": True,
        "estimated": False,
        "prompt_tokens": 26,
        "completion_tokens": 2,
        "chunks": 2,
        "done_reason": "stop",
        "model": "llama3.2:latest",
        "total_duration_ms": None,
    },
    request=b'{"model":"llama3.2","stream":true,"stream_options":{"include_usage":true}}',
)

OPENAI_CHAT_NO_USAGE = Fixture(
    "chat completions stream without include_usage",
    "/v1/chat/completions",
    SSE,
    sse(
        _CHUNK
        % '[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]',
        _CHUNK % '[{"index":0,"delta":{"content":"!"},"finish_reason":null}]',
        _CHUNK % '[{"index":0,"delta":{},"finish_reason":"length"}]',
        "[DONE]",
    ),
    {
        "status": "success",
        "estimated": True,
        "prompt_tokens": 0,
        "completion_tokens": 2,
        "done_reason": "length",
    },
)

OPENAI_CHAT_BODY = Fixture(
    "§7b chat completions non-streaming",
    "/v1/chat/completions",
    "application/json",
    b'{"id":"chatcmpl-123","object":"chat.completion","created":1760000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":26,"completion_tokens":3,"total_tokens":29}}\n',
    {
        "status": "success",
        "stream": False,
        "prompt_tokens": 26,
        "completion_tokens": 3,
        "done_reason": "stop",
        "estimated": False,
    },
)

_COMPLETION = '{"id":"cmpl-7","object":"text_completion","created":%d,"choices":%s,"model":"llama3.2","system_fingerprint":"fp_ollama","usage":%s}'
_ZERO = '{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}'

OPENAI_COMPLETIONS_QUIRK = Fixture(
    "/v1/completions quirk: zero usage on every chunk, the real one in the last choices:[]",
    "/v1/completions",
    SSE,
    sse(
        _COMPLETION % (1, '[{"text":"Once","index":0,"finish_reason":null}]', _ZERO),
        _COMPLETION % (2, '[{"text":" upon","index":0,"finish_reason":null}]', _ZERO),
        _COMPLETION % (3, '[{"text":"","index":0,"finish_reason":"length"}]', _ZERO),
        _COMPLETION % (4, "[]", '{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}'),
        "[DONE]",
    ),
    {
        "status": "success",
        "estimated": False,
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "chunks": 2,
        "done_reason": "length",
    },
)

OPENAI_EMBEDDINGS = Fixture(
    "/v1/embeddings",
    "/v1/embeddings",
    "application/json",
    b'{"object":"list","data":[{"object":"embedding","embedding":[0.1,0.2],"index":0}],"model":"all-minilm","usage":{"prompt_tokens":4,"total_tokens":4}}\n',
    {"status": "success", "prompt_tokens": 4, "completion_tokens": 0, "estimated": False},
)

OPENAI_ERROR = Fixture(
    "OpenAI error body",
    "/v1/chat/completions",
    "application/json",
    b'{"error":{"message":"model \\"nope\\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}}\n',
    {
        "status": "error",
        "http_status": 404,
        "error_type": "http_404",
        "error_message": 'model "nope" not found, try pulling it first',
        "estimated": False,
        "model": "nope:latest",
    },
    status=404,
    request=b'{"model":"nope","messages":[]}',
)


def _resp(status: str, usage: str) -> str:
    return (
        '{"response":{"created_at":1760000000,"id":"resp_1","model":"llama3.2","object":"response",'
        f'"output":[],"status":"{status}","usage":{usage}}},"sequence_number":9,'
        f'"type":"response.{status}"}}'
    )


RESPONSES_STREAM = Fixture(
    "/v1/responses stream",
    "/v1/responses",
    SSE,
    sse(
        ("response.created", _resp("created", "null").replace('"status":"created"', '"status":"in_progress"')),
        ("response.in_progress", _resp("in_progress", "null")),
        ("response.output_item.added", '{"item":{"id":"msg_1","type":"message"},"output_index":0,"type":"response.output_item.added"}'),
        ("response.output_text.delta", '{"content_index":0,"delta":"Hel","item_id":"msg_1","output_index":0,"type":"response.output_text.delta"}'),
        ("response.output_text.delta", '{"content_index":0,"delta":"lo","item_id":"msg_1","output_index":0,"type":"response.output_text.delta"}'),
        ("response.output_text.done", '{"text":"Hello","type":"response.output_text.done"}'),
        ("response.completed", _resp("completed", '{"input_tokens":26,"output_tokens":2,"total_tokens":28,"input_tokens_details":{"cached_tokens":4},"output_tokens_details":{"reasoning_tokens":0}}')),
    ),
    {
        "status": "success",
        "estimated": False,
        "prompt_tokens": 26,
        "cached_tokens": 4,
        "completion_tokens": 2,
        "chunks": 2,
        "done_reason": "stop",
        "model": "llama3.2:latest",
    },
)  # fmt: skip

_ANTH_START = '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"llama3.2","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":0}}}'

ANTHROPIC_STREAM = Fixture(
    "/v1/messages stream: message_start's usage is an estimate, message_delta's is real",
    "/v1/messages",
    SSE,
    sse(
        ("message_start", _ANTH_START),
        ("content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
        ("ping", '{"type":"ping"}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}'),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":26,"output_tokens":2}}'),
        ("message_stop", '{"type":"message_stop"}'),
    ),
    {
        "status": "success",
        "estimated": False,
        "prompt_tokens": 26,
        "completion_tokens": 2,
        "chunks": 2,
        "done_reason": "length",
        "model": "llama3.2:latest",
    },
)  # fmt: skip

ANTHROPIC_BODY = Fixture(
    "/v1/messages non-streaming",
    "/v1/messages",
    "application/json",
    b'{"id":"msg_1","type":"message","role":"assistant","model":"llama3.2","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":3}}',
    {"status": "success", "prompt_tokens": 12, "completion_tokens": 3, "done_reason": "stop"},
)

ANTHROPIC_ERROR = Fixture(
    "Anthropic error body",
    "/v1/messages",
    "application/json",
    b'{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens is required"},"request_id":"req_1"}',
    {"status": "error", "error_type": "http_400", "error_message": "max_tokens is required"},
    status=400,
)

NATIVE_404 = Fixture(
    "native error before any output",
    "/api/chat",
    JSON,
    b'{"error":"model \'nope\' not found"}',
    {
        "status": "error",
        "http_status": 404,
        "error_type": "http_404",
        "error_message": "model 'nope' not found",
        "estimated": False,
        "stream": False,
        "model": "nope:latest",
    },
    status=404,
    request=b'{"model":"nope","messages":[{"role":"user","content":"x"}]}',
)

TRUNCATED = Fixture(
    "a native stream that ends without done:true",
    "/api/chat",
    NDJSON,
    lines(
        '{"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":"a"},"done":false}',
        '{"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":"b"},"done":false}',
        '{"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":"c"},"done":false}',
    ),
    {
        "status": "error",
        "error_type": "truncated",
        "estimated": True,
        "completion_tokens": 3,
        "prompt_tokens": 0,
        "total_duration_ms": None,
    },
)

OPENAI_TRUNCATED = Fixture(
    "chat completions mid-stream error: an empty delta, then the end without [DONE]",
    "/v1/chat/completions",
    SSE,
    sse(
        _CHUNK % '[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]',
        _CHUNK % '[{"index":0,"delta":{"content":""},"finish_reason":null}]',
    ),
    {"status": "error", "error_type": "truncated", "estimated": True, "completion_tokens": 1},
)

NO_TRAILING_NEWLINE = Fixture(
    "the done line is the last line and has no newline",
    "/api/generate",
    NDJSON,
    b'{"model":"m","response":"x","done":false}\n'
    b'{"model":"m","response":"","done":true,"prompt_eval_count":3,"eval_count":1}',
    {"status": "success", "prompt_tokens": 3, "completion_tokens": 1, "estimated": False},
)

UNICODE = Fixture(
    "multi-byte characters in every line",
    "/api/chat",
    NDJSON,
    lines(
        *[
            json.dumps(
                {"model": "qwen", "message": {"role": "assistant", "content": c}, "done": False},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for c in ["日本", "語😀", "é\u2028", "🇫🇷"]
        ],
        '{"model":"qwen","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":9,"prompt_eval_cached_count":4,"eval_count":4,"eval_duration":2000000,"prompt_eval_duration":1000000,"total_duration":5000000,"load_duration":1000000}',
    ),
    {
        "status": "success",
        "chunks": 4,
        "prompt_tokens": 9,
        "cached_tokens": 4,
        "completion_tokens": 4,
        "decode_tps": 2000.0,
        "prefill_tps": 9000.0,
        "queue_wait_ms": 1.0,
        "model": "qwen:latest",
    },
)

# --- thinking models ------------------------------------------------------------------------

_THINK = '{"model":"qwen3:0.6b","created_at":"2025-10-26T17:15:24.09Z","message":{"role":"assistant","content":"","thinking":"%s"},"done":false}'
_SAY = '{"model":"qwen3:0.6b","created_at":"2025-10-26T17:15:24.10Z","message":{"role":"assistant","content":"%s"},"done":false}'

THINKING_CHAT = Fixture(
    "native chat that thinks first",
    "/api/chat",
    NDJSON,
    lines(
        _THINK % "Let", _THINK % " me", _THINK % " see",
        _SAY % "Hi", _SAY % "!",
        '{"model":"qwen3:0.6b","created_at":"2025-10-26T17:15:24.2Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":1000,"prompt_eval_count":5,"eval_count":5,"eval_duration":500}',
    ),
    {
        "status": "success",
        "usage_source": "reported",
        "completion_tokens": 5,
        "chunks": 5,
        "thinking_tokens": 3,
        "thinking_estimated": True,
        "thinking_ms": 0.0,
        "ttft_ms": 20.0,
        "ttft_answer_ms": 20.0,
        "model": "qwen3:0.6b",
    },
)  # fmt: skip

THINKING_GENERATE = Fixture(
    "native generate that thinks first",
    "/api/generate",
    NDJSON,
    lines(
        '{"model":"qwen3","created_at":"t","response":"","thinking":"Hm","done":false}',
        '{"model":"qwen3","created_at":"t","response":"","thinking":"m","done":false}',
        '{"model":"qwen3","created_at":"t","response":"Yes","done":false}',
        '{"model":"qwen3","created_at":"t","response":"","done":true,"done_reason":"stop","eval_count":3}',
    ),
    {
        "usage_source": "reported",
        "chunks": 3,
        "thinking_tokens": 2,
        "thinking_estimated": True,
        "model": "qwen3:latest",
        "model_requested": "qwen3",
    },
)  # fmt: skip

THINKING_BODY = Fixture(
    "native chat body with thinking (stream false)",
    "/api/chat",
    JSON,
    b'{"model":"qwen3:0.6b","created_at":"t","message":{"role":"assistant","content":"Hi","thinking":"Let me see what to say"},"done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":9}',
    {
        "usage_source": "reported",
        "thinking_tokens": 6,  # 22 characters at ~4 per token
        "thinking_estimated": True,
        "thinking_ms": None,
        "ttft_answer_ms": None,
    },
)

_REASON = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"qwen3:0.6b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{%s},"finish_reason":null}]}'

OPENAI_REASONING_STREAM = Fixture(
    "/v1 chat stream with reasoning deltas and a reported reasoning count",
    "/v1/chat/completions",
    SSE,
    sse(
        _REASON % '"role":"assistant","content":"","reasoning":"So"',
        _REASON % '"content":"","reasoning_content":" then"',
        _REASON % '"content":"Hi"',
        '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"qwen3:0.6b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"qwen3:0.6b","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7,"completion_tokens_details":{"reasoning_tokens":2}}}',
        "[DONE]",
    ),
    {
        "status": "success",
        "usage_source": "reported",
        "chunks": 3,
        "thinking_tokens": 2,
        "thinking_estimated": False,
        "thinking_ms": 0.0,
        "ttft_answer_ms": 20.0,
    },
)  # fmt: skip

ANTHROPIC_THINKING_STREAM = Fixture(
    "/v1/messages stream with a thinking block",
    "/v1/messages",
    SSE,
    sse(
        ("message_start", _ANTH_START),
        ("content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hm"}}'),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        ("content_block_start", '{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}'),
        ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}'),
        ("content_block_stop", '{"type":"content_block_stop","index":1}'),
        ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":26,"output_tokens":2}}'),
        ("message_stop", '{"type":"message_stop"}'),
    ),
    {
        "status": "success",
        "usage_source": "reported",
        "chunks": 2,
        "thinking_tokens": 1,
        "thinking_estimated": True,
        "ttft_answer_ms": 20.0,
    },
)  # fmt: skip


ALL: tuple[Fixture, ...] = (
    F1,
    F2,
    F3,
    F4,
    F5,
    F6,
    F7_LOAD,
    F7_UNLOAD,
    F8,
    F9,
    F10,
    F10_ERROR,
    F11,
    EMBEDDINGS_LEGACY,
    OPENAI_CHAT_STREAM,
    OPENAI_CHAT_NO_USAGE,
    OPENAI_CHAT_BODY,
    OPENAI_COMPLETIONS_QUIRK,
    OPENAI_EMBEDDINGS,
    OPENAI_ERROR,
    RESPONSES_STREAM,
    ANTHROPIC_STREAM,
    ANTHROPIC_BODY,
    ANTHROPIC_ERROR,
    NATIVE_404,
    TRUNCATED,
    OPENAI_TRUNCATED,
    NO_TRAILING_NEWLINE,
    UNICODE,
    THINKING_CHAT,
    THINKING_GENERATE,
    THINKING_BODY,
    OPENAI_REASONING_STREAM,
    ANTHROPIC_THINKING_STREAM,
)
