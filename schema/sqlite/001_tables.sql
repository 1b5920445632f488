-- The Application Insights tables. Column order follows the row structs in src/model;
-- customDimensions, customMeasurements and bucket arrays are JSON text.
-- REAL columns are nullable because SQLite stores NaN as NULL.

CREATE TABLE "requests" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    resultCode TEXT NOT NULL,
    success INTEGER NOT NULL,
    duration_ms REAL,
    performanceBucket TEXT NOT NULL
);
CREATE INDEX "requests_time" ON "requests" (timestamp_ns);
CREATE INDEX "requests_operation" ON "requests" (operation_Id);
CREATE INDEX "requests_name" ON "requests" (name, timestamp_ns);

CREATE TABLE "dependencies" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    data TEXT NOT NULL,
    resultCode TEXT NOT NULL,
    success INTEGER NOT NULL,
    duration_ms REAL,
    performanceBucket TEXT NOT NULL,
    genai_provider TEXT NOT NULL,
    genai_operation TEXT NOT NULL,
    genai_requestModel TEXT NOT NULL,
    genai_responseModel TEXT NOT NULL,
    genai_inputTokens INTEGER NOT NULL,
    genai_outputTokens INTEGER NOT NULL,
    genai_cachedInputTokens INTEGER NOT NULL,
    genai_maxTokens INTEGER NOT NULL,
    genai_finishReason TEXT NOT NULL,
    genai_dialect TEXT NOT NULL
);
CREATE INDEX "dependencies_time" ON "dependencies" (timestamp_ns);
CREATE INDEX "dependencies_operation" ON "dependencies" (operation_Id);
CREATE INDEX "dependencies_target" ON "dependencies" (target, timestamp_ns);

CREATE TABLE "exceptions" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    problemId TEXT NOT NULL,
    type TEXT NOT NULL,
    message TEXT NOT NULL,
    outerType TEXT NOT NULL,
    outerMessage TEXT NOT NULL,
    innermostType TEXT NOT NULL,
    innermostMessage TEXT NOT NULL,
    method TEXT NOT NULL,
    assembly TEXT NOT NULL,
    severityLevel INTEGER NOT NULL,
    handledAt TEXT NOT NULL,
    stack TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX "exceptions_time" ON "exceptions" (timestamp_ns);
CREATE INDEX "exceptions_operation" ON "exceptions" (operation_Id);
CREATE INDEX "exceptions_problemId" ON "exceptions" (problemId, timestamp_ns);

CREATE TABLE "traces" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    message TEXT NOT NULL,
    severityLevel INTEGER NOT NULL
);
CREATE INDEX "traces_time" ON "traces" (timestamp_ns);
CREATE INDEX "traces_operation" ON "traces" (operation_Id);

CREATE TABLE "customEvents" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE INDEX "customEvents_time" ON "customEvents" (timestamp_ns);
CREATE INDEX "customEvents_operation" ON "customEvents" (operation_Id);
CREATE INDEX "customEvents_name" ON "customEvents" (name, timestamp_ns);

CREATE TABLE "customMetrics" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    metricType TEXT NOT NULL,
    unit TEXT NOT NULL,
    aggregationTemporality TEXT NOT NULL,
    value REAL,
    valueCount INTEGER NOT NULL,
    valueSum REAL,
    valueMin REAL,
    valueMax REAL,
    valueStdDev REAL,
    bucketBounds TEXT NOT NULL,
    bucketCounts TEXT NOT NULL
);
CREATE INDEX "customMetrics_time" ON "customMetrics" (timestamp_ns);
CREATE INDEX "customMetrics_operation" ON "customMetrics" (operation_Id);
CREATE INDEX "customMetrics_name" ON "customMetrics" (name, timestamp_ns);

CREATE TABLE "pageViews" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    duration_ms REAL,
    performanceBucket TEXT NOT NULL
);
CREATE INDEX "pageViews_time" ON "pageViews" (timestamp_ns);
CREATE INDEX "pageViews_operation" ON "pageViews" (operation_Id);

CREATE TABLE "availabilityResults" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    message TEXT NOT NULL,
    success INTEGER NOT NULL,
    duration_ms REAL
);
CREATE INDEX "availabilityResults_time" ON "availabilityResults" (timestamp_ns);
CREATE INDEX "availabilityResults_operation" ON "availabilityResults" (operation_Id);

CREATE TABLE "performanceCounters" (
    timestamp_ns INTEGER NOT NULL,
    iKey TEXT NOT NULL,
    appName TEXT NOT NULL,
    itemId TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    operation_ParentId TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    cloud_RoleInstance TEXT NOT NULL,
    sdkVersion TEXT NOT NULL,
    application_Version TEXT NOT NULL,
    user_Id TEXT NOT NULL,
    user_AuthenticatedId TEXT NOT NULL,
    session_Id TEXT NOT NULL,
    client_IP TEXT NOT NULL,
    itemCount INTEGER NOT NULL,
    customDimensions TEXT NOT NULL,
    customMeasurements TEXT NOT NULL,
    category TEXT NOT NULL,
    counter TEXT NOT NULL,
    instance TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL
);
CREATE INDEX "performanceCounters_time" ON "performanceCounters" (timestamp_ns);
CREATE INDEX "performanceCounters_operation" ON "performanceCounters" (operation_Id);
