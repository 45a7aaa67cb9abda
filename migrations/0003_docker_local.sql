-- Local docker repositories: a registry on the Registry HTTP API V2 / OCI distribution spec.
-- A repository is (local, image): the local docker repository's name and the image name
-- below it ('team/app'). Bytes live in the content-addressable store like everything else
-- (one blob per digest, shared by every repository); these tables say which repository
-- links which blob, which manifests a repository has, what they reference, and its tags.
-- Every row goes with its local (ON DELETE CASCADE); the blobs go at the next GC.

-- Blob uploads in progress. `size` is the number of bytes received so far, so the offset the
-- next chunk must start at. The bytes are parts in the store (uploads/{id}/{part}), one row
-- per part here, so any replica sharing the database and the store can continue an upload.
CREATE TABLE oci_uploads (
    id         uuid PRIMARY KEY,
    local      text NOT NULL REFERENCES locals (name) ON DELETE CASCADE,
    image      text NOT NULL,
    size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Bumped by every chunk; uploads idle for longer than DOCKER_UPLOAD_MAX_AGE are purged.
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oci_uploads_updated_at ON oci_uploads (updated_at);

CREATE TABLE oci_upload_parts (
    upload     uuid NOT NULL REFERENCES oci_uploads (id) ON DELETE CASCADE,
    "offset"   bigint NOT NULL CHECK ("offset" >= 0),
    part       uuid NOT NULL,
    size       bigint NOT NULL CHECK (size > 0),
    -- The SHA-256 of this part's bytes, taken while they were staged.
    digest     text NOT NULL,
    PRIMARY KEY (upload, "offset")
);

-- Blobs a repository links (pushed there, or mounted from another repository). A link is what
-- makes a blob readable through that repository; it does not keep the blob from GC on its own
-- (manifests do), and it goes with the blob's row when GC deletes the blob.
CREATE TABLE oci_blobs (
    local      text NOT NULL REFERENCES locals (name) ON DELETE CASCADE,
    image      text NOT NULL,
    digest     text NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
    size       bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (local, image, digest)
);
CREATE INDEX oci_blobs_digest ON oci_blobs (digest);

-- Manifests (image manifests, indexes, artifacts) with their exact bytes in the blob `digest`
-- and their media type as pushed. `subject`, `artifact_type` and `annotations` feed the
-- referrers API.
CREATE TABLE oci_manifests (
    local         text NOT NULL REFERENCES locals (name) ON DELETE CASCADE,
    image         text NOT NULL,
    digest        text NOT NULL,
    media_type    text NOT NULL,
    size          bigint NOT NULL,
    subject       text,
    artifact_type text,
    annotations   jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (local, image, digest)
);
CREATE INDEX oci_manifests_digest ON oci_manifests (digest);
CREATE INDEX oci_manifests_subject ON oci_manifests (local, image, subject) WHERE subject IS NOT NULL;

-- What a manifest references: its config and layers (blobs), or the manifests of an index.
-- GC keeps every digest listed here while the manifest exists.
CREATE TABLE oci_manifest_refs (
    local    text NOT NULL,
    image    text NOT NULL,
    manifest text NOT NULL,
    digest   text NOT NULL,
    PRIMARY KEY (local, image, manifest, digest),
    FOREIGN KEY (local, image, manifest) REFERENCES oci_manifests (local, image, digest) ON DELETE CASCADE
);
CREATE INDEX oci_manifest_refs_digest ON oci_manifest_refs (digest);

-- Tags: mutable names of manifests. Deleting a manifest deletes the tags naming it.
CREATE TABLE oci_tags (
    local      text NOT NULL,
    image      text NOT NULL,
    tag        text NOT NULL,
    digest     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (local, image, tag),
    FOREIGN KEY (local, image, digest) REFERENCES oci_manifests (local, image, digest) ON DELETE CASCADE
);
