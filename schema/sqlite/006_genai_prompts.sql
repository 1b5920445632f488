-- Reasoning tokens and the managed prompt (name and version) of GenAI calls; the view takes
-- them where the row struct has them.
ALTER TABLE "dependencies_rows" ADD COLUMN genai_reasoningTokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "dependencies_rows" ADD COLUMN genai_promptName TEXT NOT NULL DEFAULT '';
ALTER TABLE "dependencies_rows" ADD COLUMN genai_promptVersion TEXT NOT NULL DEFAULT '';
DROP VIEW "dependencies";
CREATE VIEW "dependencies" AS SELECT
    timestamp_ns,
    iKey,
    appName,
    itemId,
    operation_Id,
    operation_ParentId,
    operation_Name,
    cloud_RoleName,
    cloud_RoleInstance,
    sdkVersion,
    application_Version,
    user_Id,
    user_AuthenticatedId,
    session_Id,
    client_IP,
    itemCount,
    CASE WHEN resource_id IS NULL THEN customDimensions ELSE
        substr(customDimensions, 1, length(customDimensions) - 1)
        || CASE WHEN customDimensions = '{}' THEN '' ELSE ',' END
        || substr(COALESCE((SELECT r.dimensions FROM "resources" AS r
                            WHERE r.id = "dependencies_rows".resource_id AND r.appName = "dependencies_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    id,
    name,
    type,
    target,
    data,
    resultCode,
    success,
    duration_ms,
    performanceBucket,
    genai_provider,
    genai_operation,
    genai_requestModel,
    genai_responseModel,
    genai_inputTokens,
    genai_outputTokens,
    genai_cachedInputTokens,
    genai_reasoningTokens,
    genai_maxTokens,
    genai_finishReason,
    genai_promptName,
    genai_promptVersion,
    genai_dialect
FROM "dependencies_rows";
