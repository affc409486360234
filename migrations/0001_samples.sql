-- One row per sample the daemon produced: the archive of `telemetryd archive`, read by
-- GET /telemetry/{switch_id}/{metric}/history. A replayed Kafka record has the same key
-- and is ignored, so the archive holds every sample exactly once.
CREATE TABLE IF NOT EXISTS samples (
    switch_id          INT UNSIGNED    NOT NULL COMMENT 'n of switch-<n>',
    updated_at         BIGINT UNSIGNED NOT NULL COMMENT 'when the sample was taken, Unix milliseconds',
    bandwidth_in_mbps  DOUBLE          NOT NULL,
    bandwidth_out_mbps DOUBLE          NOT NULL,
    latency_ms         DOUBLE          NOT NULL,
    packet_errors      BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (switch_id, updated_at),
    KEY samples_by_time (updated_at)
) ENGINE = InnoDB;
