-- Resource attributes stored once per resource instead of on every row (the attributes an
-- OTLP resource or a track tag set carries beyond the role columns: pod, node, host, process,
-- container; typically a kilobyte behind the OpenTelemetry Collector). Rows keep their own
-- attributes in `customDimensions` and name their resource by `resource_id`: the first 16 bytes
-- of SHA-256 over the app and the attributes' JSON. Each item table becomes `<table>_rows`,
-- and a view of the old name gives every reader the merged map as before: the row's own keys,
-- then the resource's (what the writer stored before this migration, so rows written before
-- it read the same). The view appends the two JSON texts without parsing them; a row that
-- has one of its resource's keys (its own value wins) is therefore stored whole, without an
-- id. `last_ns` is the latest timestamp of a row naming the resource, so retention drops a
-- resource with its last row.
CREATE TABLE "resources" (
    id BLOB PRIMARY KEY,
    appName TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    last_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX "resources_last" ON "resources" (last_ns);

ALTER TABLE "requests" RENAME TO "requests_rows";
ALTER TABLE "requests_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "requests" AS SELECT
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
                            WHERE r.id = "requests_rows".resource_id AND r.appName = "requests_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    id,
    name,
    url,
    source,
    resultCode,
    success,
    duration_ms,
    performanceBucket
FROM "requests_rows";

ALTER TABLE "dependencies" RENAME TO "dependencies_rows";
ALTER TABLE "dependencies_rows" ADD COLUMN resource_id BLOB;
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
    genai_maxTokens,
    genai_finishReason,
    genai_dialect
FROM "dependencies_rows";

ALTER TABLE "exceptions" RENAME TO "exceptions_rows";
ALTER TABLE "exceptions_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "exceptions" AS SELECT
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
                            WHERE r.id = "exceptions_rows".resource_id AND r.appName = "exceptions_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    problemId,
    type,
    message,
    outerType,
    outerMessage,
    innermostType,
    innermostMessage,
    method,
    assembly,
    severityLevel,
    handledAt,
    stack,
    details
FROM "exceptions_rows";

ALTER TABLE "traces" RENAME TO "traces_rows";
ALTER TABLE "traces_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "traces" AS SELECT
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
                            WHERE r.id = "traces_rows".resource_id AND r.appName = "traces_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    message,
    severityLevel
FROM "traces_rows";

ALTER TABLE "customEvents" RENAME TO "customEvents_rows";
ALTER TABLE "customEvents_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "customEvents" AS SELECT
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
                            WHERE r.id = "customEvents_rows".resource_id AND r.appName = "customEvents_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    name
FROM "customEvents_rows";

ALTER TABLE "customMetrics" RENAME TO "customMetrics_rows";
ALTER TABLE "customMetrics_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "customMetrics" AS SELECT
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
                            WHERE r.id = "customMetrics_rows".resource_id AND r.appName = "customMetrics_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    name,
    namespace,
    metricType,
    unit,
    aggregationTemporality,
    value,
    valueCount,
    valueSum,
    valueMin,
    valueMax,
    valueStdDev,
    bucketBounds,
    bucketCounts
FROM "customMetrics_rows";

ALTER TABLE "pageViews" RENAME TO "pageViews_rows";
ALTER TABLE "pageViews_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "pageViews" AS SELECT
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
                            WHERE r.id = "pageViews_rows".resource_id AND r.appName = "pageViews_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    id,
    name,
    url,
    duration_ms,
    performanceBucket
FROM "pageViews_rows";

ALTER TABLE "availabilityResults" RENAME TO "availabilityResults_rows";
ALTER TABLE "availabilityResults_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "availabilityResults" AS SELECT
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
                            WHERE r.id = "availabilityResults_rows".resource_id AND r.appName = "availabilityResults_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    id,
    name,
    location,
    message,
    success,
    duration_ms
FROM "availabilityResults_rows";

ALTER TABLE "performanceCounters" RENAME TO "performanceCounters_rows";
ALTER TABLE "performanceCounters_rows" ADD COLUMN resource_id BLOB;
CREATE VIEW "performanceCounters" AS SELECT
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
                            WHERE r.id = "performanceCounters_rows".resource_id AND r.appName = "performanceCounters_rows".appName),
                           '{}'), 2) END AS customDimensions,
    customMeasurements,
    category,
    counter,
    instance,
    name,
    value
FROM "performanceCounters_rows";
