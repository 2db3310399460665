-- Where each record's token counts came from: reported (the upstream's usage), estimated (the
-- meter's count of streamed chunks) or none (no model ran, or nothing was said). Token columns
-- stay plain Int64 (the rollup view sums them as such): a "none" row holds 0 and reads as null
-- through the API (docs/meter.md). Older rows get the value from their own columns.
ALTER TABLE request_logs {{ ON_CLUSTER }}
    ADD COLUMN IF NOT EXISTS usage_source LowCardinality(String)
    DEFAULT multiIf(NOT inference, 'none', estimated, 'estimated', 'reported');
-- Rows written before this release counted pull/push/create progress lines as completion
-- tokens; no model ran for them. A mutation: idempotent, run in the background.
ALTER TABLE request_logs {{ ON_CLUSTER }}
    UPDATE prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0, tokens_generated = 0,
        estimated = false
    WHERE NOT inference AND (completion_tokens != 0 OR prompt_tokens != 0 OR estimated);
