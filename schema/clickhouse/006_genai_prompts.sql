-- Reasoning tokens and the managed prompt (name and version) of GenAI calls. One statement, so
-- the columns arrive together; placed where the row struct has them.

ALTER TABLE {{database}}.`dependencies`
    ADD COLUMN `genai_reasoningTokens` UInt64 AFTER `genai_cachedInputTokens`,
    ADD COLUMN `genai_promptName` {{lc}} AFTER `genai_finishReason`,
    ADD COLUMN `genai_promptVersion` {{lc}} AFTER `genai_promptName`;
