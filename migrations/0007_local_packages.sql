-- What local repositories of package types hold beside their files: published versions with
-- their metadata (an npm version manifest, a wheel's core metadata, a chart's Chart.yaml, a Go
-- module's .info), tags (npm dist-tags), and a generation per local, bumped by every write, that
-- names the state its generated documents (packuments, simple pages, index.yaml, @v/list) were
-- made from. Files stay in local_files. Rows go with their local.
ALTER TABLE locals ADD COLUMN generation bigint NOT NULL DEFAULT 0;

CREATE TABLE local_packages (
    repo       text NOT NULL REFERENCES locals (name) ON DELETE CASCADE,
    package    text NOT NULL,
    version    text NOT NULL,
    metadata   jsonb NOT NULL,
    -- An unpublished version stays, so the same version can never be published again.
    state      text NOT NULL DEFAULT 'published' CHECK (state IN ('published', 'unpublished')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo, package, version)
);

CREATE TABLE local_tags (
    repo       text NOT NULL REFERENCES locals (name) ON DELETE CASCADE,
    package    text NOT NULL,
    tag        text NOT NULL,
    version    text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo, package, tag)
);
