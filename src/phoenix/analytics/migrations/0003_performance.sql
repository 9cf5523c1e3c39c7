-- Latency and throughput by region and hour, for the operator page's heatmaps. New tables, not
-- new columns: a SummingMergeTree adds up rows of equal key, and connection_hourly's and
-- session_hourly's keys are fixed at creation, so a bucket column outside them would be summed
-- away. latency_hourly keeps the outcome, so which attempts a latency figure counts is a choice
-- of the report's query, not of this table.
--
-- Each table is filled once from the events already stored, then kept up by its view. The fill
-- runs only while the table is empty: migrate() runs a migration's statements again when it
-- stopped before recording the version, and a second fill would count every event twice.
-- Events inserted between the fill and the view's creation are missed (an undercount of a
-- moment, never a double count).
CREATE TABLE IF NOT EXISTS latency_hourly (
    hour DateTime('UTC'),
    region String,
    outcome String,
    latency_bucket String,
    events UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, region, outcome, latency_bucket);

INSERT INTO latency_hourly (hour, region, outcome, latency_bucket, events)
SELECT hour, region, outcome, latency_bucket, count() AS events
FROM events
WHERE type = 'connection_attempt' AND (SELECT count() FROM latency_hourly) = 0
GROUP BY hour, region, outcome, latency_bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS latency_hourly_mv TO latency_hourly AS
SELECT hour, region, outcome, latency_bucket, count() AS events
FROM events
WHERE type = 'connection_attempt'
GROUP BY hour, region, outcome, latency_bucket;

CREATE TABLE IF NOT EXISTS throughput_hourly (
    hour DateTime('UTC'),
    region String,
    throughput_bucket String,
    events UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, region, throughput_bucket);

INSERT INTO throughput_hourly (hour, region, throughput_bucket, events)
SELECT hour, region, throughput_bucket, count() AS events
FROM events
WHERE type = 'session_summary' AND (SELECT count() FROM throughput_hourly) = 0
GROUP BY hour, region, throughput_bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS throughput_hourly_mv TO throughput_hourly AS
SELECT hour, region, throughput_bucket, count() AS events
FROM events
WHERE type = 'session_summary'
GROUP BY hour, region, throughput_bucket;
