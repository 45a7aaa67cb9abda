-- Rendered package indexes (documents rewritten for this server, virtual merges): where the
-- rendering of (repository, upstream URL, form, source digest) is in the blob store, so every
-- replica and every restart reuses it instead of rendering again. A row goes with its blob:
-- garbage collection deletes unreferenced blobs not seen within the grace period, and a
-- rendering in use renews its blob's last_seen.
CREATE TABLE rendered_documents (
    repo         text NOT NULL,
    url          text NOT NULL,
    form         text NOT NULL,
    source       text NOT NULL,
    digest       text NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
    size         bigint NOT NULL,
    content_type text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo, url, form, source)
);
CREATE INDEX rendered_documents_digest ON rendered_documents (digest);
