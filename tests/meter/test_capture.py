"""Opt-in content capture: text from every API flavour, redaction, bounds (pure)."""

from __future__ import annotations

import re

from ollama_proxy.meter.capture import ContentCapture, answer_text, prompt_text, redact

NDJSON = (
    b'{"model":"m","created_at":"t","response":"Hel","done":false}\n'
    b'{"model":"m","created_at":"t","response":"lo","done":false}\n'
    b'{"model":"m","created_at":"t","response":"","done":true,"eval_count":2}\n'
)
SSE = (
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":" there"}}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":1}}\n\n'
    b"data: [DONE]\n\n"
)
ANTHROPIC = (
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Yo"}}\n\n'
)


def test_prompt_text_from_every_request_shape() -> None:
    assert prompt_text({"prompt": "p", "system": "s"}) == "s\np"
    assert (
        prompt_text(
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"content": [{"type": "text", "text": "b"}]},
                ]
            }
        )
        == "a\nb"
    )
    assert prompt_text({"input": ["x", "y"]}) == "x\ny"
    assert prompt_text(["not", "a", "dict"]) == ""


def test_answer_text_from_every_stream_shape() -> None:
    assert answer_text(NDJSON, "application/x-ndjson") == "Hello"
    assert answer_text(SSE, "text/event-stream") == "Hi there"
    assert answer_text(ANTHROPIC, "text/event-stream") == "Yo"
    assert (
        answer_text(b'{"message":{"role":"assistant","content":"ok"}}', "application/json") == "ok"
    )
    body = b'{"choices":[{"message":{"role":"assistant","content":"c"}}]}\n'
    assert answer_text(body, "application/json") == "c"
    assert answer_text(b"not json", "application/json") == ""


def test_redaction_and_bounds() -> None:
    patterns = [re.compile(r"sk-[A-Za-z0-9]{8,}")]
    assert redact("use sk-ABCDEFGH12 now", patterns) == "use [REDACTED] now"
    capture = ContentCapture(1024, patterns)
    capture.feed_request(b'{"prompt":"' + b"x" * 100_000 + b'"}')
    capture.feed_response(NDJSON)
    prompt, answer = capture.texts("application/x-ndjson")
    assert prompt == "" and answer == "Hello"  # a truncated body is not guessed at
    small = ContentCapture(1024, patterns)
    small.feed_request(b'{"prompt":"key sk-ABCDEFGH12 and ' + b"y" * 3000 + b'"}')
    prompt, _ = small.texts("application/json")
    assert prompt.startswith("key [REDACTED] and ") and len(prompt) == 1024
