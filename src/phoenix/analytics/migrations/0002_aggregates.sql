-- Pre-aggregated tables the reports read, filled by materialized views on every insert into
-- events. SummingMergeTree adds up `events` for equal keys as parts merge; reports still
-- sum() with GROUP BY, since merging happens in the background. Partitioned by month like
-- events, so retention drops the same partitions everywhere.
CREATE TABLE IF NOT EXISTS connection_hourly (
    hour DateTime('UTC'),
    region String,
    outcome String,
    events UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, region, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS connection_hourly_mv TO connection_hourly AS
SELECT hour, region, outcome, count() AS events
FROM events
WHERE type = 'connection_attempt'
GROUP BY hour, region, outcome;

CREATE TABLE IF NOT EXISTS session_hourly (
    hour DateTime('UTC'),
    region String,
    duration_bucket String,
    data_bucket String,
    events UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, region, duration_bucket, data_bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_hourly_mv TO session_hourly AS
SELECT hour, region, duration_bucket, data_bucket, count() AS events
FROM events
WHERE type = 'session_summary'
GROUP BY hour, region, duration_bucket, data_bucket;

CREATE TABLE IF NOT EXISTS blocking_hourly (
    hour DateTime('UTC'),
    blocked_mb_bucket String,
    blocked_requests_bucket String,
    time_saved_bucket String,
    events UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, blocked_mb_bucket, blocked_requests_bucket, time_saved_bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS blocking_hourly_mv TO blocking_hourly AS
SELECT hour, blocked_mb_bucket, blocked_requests_bucket, time_saved_bucket, count() AS events
FROM events
WHERE type = 'blocking_summary'
GROUP BY hour, blocked_mb_bucket, blocked_requests_bucket, time_saved_bucket;
