-- The catalog of artifactapi: repository configuration, what is cached where, the blobs of the
-- content-addressable store, local repository files, upload sessions, signing keys and the
-- access log. Digests are stored in their OCI form, 'sha256:<64 hex>'.

-- Repository configuration. The three kinds live in separate tables, but a name is unique
-- across all of them (it is the path segment clients use): see repo_name_unique() below.
CREATE TABLE remotes (
    name         text PRIMARY KEY,
    package_type text NOT NULL,
    spec         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE virtuals (
    name         text PRIMARY KEY,
    package_type text NOT NULL,
    -- Ordered member names (remotes and locals of the same package type).
    members      jsonb NOT NULL DEFAULT '[]'::jsonb,
    spec         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE locals (
    name         text PRIMARY KEY,
    package_type text NOT NULL,
    spec         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Refuses a repository name already used by another kind. Concurrent creations are serialised
-- by a transaction-scoped advisory lock (key: 'aa-names' in ASCII), taken before the check, so
-- two replicas creating a remote and a local of the same name cannot both succeed. Duplicates
-- within one table are left to its primary key. Raises unique_violation (SQLSTATE 23505).
CREATE FUNCTION repo_name_unique() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    other text;
BEGIN
    PERFORM pg_advisory_xact_lock(7016939646524155251);
    SELECT kind INTO other FROM (
        SELECT 'remote' AS kind FROM remotes WHERE name = NEW.name AND TG_TABLE_NAME <> 'remotes'
        UNION ALL
        SELECT 'virtual' FROM virtuals WHERE name = NEW.name AND TG_TABLE_NAME <> 'virtuals'
        UNION ALL
        SELECT 'local' FROM locals WHERE name = NEW.name AND TG_TABLE_NAME <> 'locals'
    ) AS taken LIMIT 1;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'a % repository named "%" already exists', other, NEW.name
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER remotes_name_unique BEFORE INSERT OR UPDATE OF name ON remotes
    FOR EACH ROW EXECUTE FUNCTION repo_name_unique();
CREATE TRIGGER virtuals_name_unique BEFORE INSERT OR UPDATE OF name ON virtuals
    FOR EACH ROW EXECUTE FUNCTION repo_name_unique();
CREATE TRIGGER locals_name_unique BEFORE INSERT OR UPDATE OF name ON locals
    FOR EACH ROW EXECUTE FUNCTION repo_name_unique();

-- One row per blob in the store. last_seen is bumped every time a commit uses the blob; GC
-- deletes a blob only when nothing references it and it was last seen before the grace cutoff.
CREATE TABLE blobs (
    digest     text PRIMARY KEY,
    size       bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);

-- What a remote has cached: (repo, path, variant) -> blob. No foreign key to blobs: GC decides
-- under the blob's row lock, and a missing blob row is recreated by the next commit.
CREATE TABLE cached_objects (
    repo                   text NOT NULL,
    path                   text NOT NULL,
    variant                text NOT NULL DEFAULT '',
    digest                 text NOT NULL,
    size                   bigint NOT NULL,
    content_type           text,
    upstream_etag          text,
    upstream_last_modified text,
    mutable                boolean NOT NULL DEFAULT false,
    fetched_at             timestamptz NOT NULL DEFAULT now(),
    validated_at           timestamptz NOT NULL DEFAULT now(),
    hits                   bigint NOT NULL DEFAULT 0,
    last_access            timestamptz,
    PRIMARY KEY (repo, path, variant)
);
CREATE INDEX cached_objects_digest ON cached_objects (digest);
CREATE INDEX cached_objects_repo_last_access ON cached_objects (repo, last_access);

-- Files of local repositories (docker manifests and blobs, terraform providers, uploads).
CREATE TABLE local_files (
    repo         text NOT NULL,
    path         text NOT NULL,
    digest       text NOT NULL,
    size         bigint NOT NULL,
    content_type text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo, path)
);
CREATE INDEX local_files_digest ON local_files (digest);

-- Uploads in progress (docker chunked uploads and the like). A session keeps its digest alive
-- while it is 'open' or 'committing'; 'done' and 'aborted' rows reference nothing.
CREATE TABLE upload_sessions (
    id         uuid PRIMARY KEY,
    repo       text NOT NULL,
    name       text NOT NULL,
    digest     text,
    size       bigint NOT NULL DEFAULT 0,
    state      text NOT NULL DEFAULT 'open'
               CHECK (state IN ('open', 'committing', 'done', 'aborted')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_sessions_digest ON upload_sessions (digest);

-- OpenPGP keys that sign terraform provider SHA256SUMS.
CREATE TABLE signing_keys (
    id               text PRIMARY KEY,
    fingerprint      text NOT NULL UNIQUE,
    armored_private  text NOT NULL,
    armored_public   text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per served request (written in batches).
CREATE TABLE access_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    repo         text NOT NULL,
    path         text NOT NULL,
    method       text NOT NULL,
    status       integer NOT NULL,
    cache_status text,
    bytes        bigint NOT NULL DEFAULT 0,
    duration_ms  integer NOT NULL DEFAULT 0,
    client       text
);
CREATE INDEX access_log_at ON access_log (at);
