-- Every accepted event, one row each, stamped by the server with its hour (never the client's
-- clock). No column can hold an address, an identifier or free text. Buckets are Strings, not
-- Enums: the closed enumerations live in phoenix/analytics/schemas.py and are enforced at ingest,
-- so adding a bucket needs no ALTER here. (18.16 has no LowCardinality.)
-- insert_marker is 0 on every row but the first of each insert, where it is a random number:
-- a writer that retries an insert first asks whether its marker already landed (18.16 has no
-- insert_deduplication_token for plain MergeTree). One random number on one row links nothing.
CREATE TABLE IF NOT EXISTS events (
    hour DateTime('UTC'),
    type Enum8('connection_attempt' = 1, 'session_summary' = 2, 'blocking_summary' = 3),
    platform String,
    app_version String,
    region String,
    outcome String,
    latency_bucket String,
    duration_bucket String,
    data_bucket String,
    throughput_bucket String,
    blocked_mb_bucket String,
    blocked_requests_bucket String,
    time_saved_bucket String,
    insert_marker UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (type, hour, region);
