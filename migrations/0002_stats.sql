-- Request statistics per repository, cluster-wide. Every replica counts in memory and adds its
-- counts here every few seconds (INSERT ... ON CONFLICT DO UPDATE SET x = x + EXCLUDED.x), so
-- the totals survive restarts and include every replica.
CREATE TABLE repo_stats (
    repo            text PRIMARY KEY,
    requests        bigint NOT NULL DEFAULT 0,
    hits            bigint NOT NULL DEFAULT 0,
    misses          bigint NOT NULL DEFAULT 0,
    stale           bigint NOT NULL DEFAULT 0,
    revalidated     bigint NOT NULL DEFAULT 0,
    bytes_served    bigint NOT NULL DEFAULT 0,
    bytes_fetched   bigint NOT NULL DEFAULT 0,
    upstream_errors bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The access log is read newest first (by id), often for one repository.
CREATE INDEX access_log_repo_id ON access_log (repo, id);
