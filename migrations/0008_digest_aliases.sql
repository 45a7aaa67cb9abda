-- Other digests of stored blobs. The store and every table name a blob by its SHA-256
-- (`sha256:<hex>`); a registry client may name the same bytes by their SHA-512 (the OCI spec's
-- other algorithm). A blob pushed to a local docker repository by a `sha512:` digest (a blob
-- upload or a manifest) was checked against it while it was staged, and the digest is recorded
-- here so later pulls by that digest find the blob. An alias goes with its blob.
CREATE TABLE digest_aliases (
    alias      text PRIMARY KEY CHECK (alias LIKE 'sha512:%'),
    digest     text NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX digest_aliases_digest ON digest_aliases (digest);
