-- Where each record's token counts came from: reported (the upstream's usage), estimated (the
-- meter's count of streamed chunks) or none (no model ran, or nothing was said). Token columns
-- stay NOT NULL: a "none" row holds 0 and reads as null through the API (docs/meter.md).
ALTER TABLE request_logs ADD COLUMN usage_source TEXT NOT NULL DEFAULT 'none';
UPDATE request_logs SET usage_source = CASE
    WHEN NOT inference THEN 'none'
    WHEN estimated THEN 'estimated'
    ELSE 'reported'
END;
-- Rows written before this release counted pull/push/create progress lines as completion
-- tokens; no model ran for them.
UPDATE request_logs
SET prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0, tokens_generated = 0,
    estimated = 0
WHERE NOT inference AND (completion_tokens <> 0 OR prompt_tokens <> 0 OR estimated);
