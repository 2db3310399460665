-- Where each record's token counts came from: reported (the upstream's usage), estimated (the
-- meter's count of streamed chunks) or none (no model ran, or nothing was said). Token columns
-- stay NOT NULL: a "none" row holds 0 and reads as null through the API (docs/meter.md).
-- Nullable and without a default, so TimescaleDB adds it to compressed chunks too; older rows
-- keep NULL, which readers take as "derive it from inference and estimated".
ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS usage_source TEXT;
-- Rows written before this release counted pull/push/create progress lines as completion
-- tokens; no model ran for them. Best effort: TimescaleDB before 2.11 cannot update compressed
-- chunks; their older rows then keep those counts (the API still shows them as null: their
-- usage_source reads as none), and a notice says so.
DO $$
BEGIN
    UPDATE request_logs
    SET prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0, tokens_generated = 0,
        estimated = false
    WHERE NOT inference AND (completion_tokens <> 0 OR prompt_tokens <> 0 OR estimated);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'older non-inference rows keep their token counts: %', SQLERRM;
END
$$;
