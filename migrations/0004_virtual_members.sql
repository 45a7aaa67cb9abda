-- Virtual repository members as rows the schema keeps sound, instead of a JSON array nothing
-- checked: a member exists, is a remote or a local (not a virtual), has the virtual's package
-- type, and is listed once.
--
-- A member is one of two tables, and one foreign key cannot point at two tables, so a row has
-- a `remote` and a `local` column, exactly one of them set, each with its own foreign key (an
-- "exclusive arc"). The keys include `package_type`: a row carries the virtual's type, and
-- (virtual, package_type), (remote, package_type) and (local, package_type) must all exist, so
-- a member of another type cannot be listed and a listed repository can neither be deleted nor
-- change its type (NO ACTION: the statement fails, 23503). The catalog code takes row locks so
-- that the loser of a race gets the same answer as a sequential caller, but the keys are what
-- make a broken virtual impossible, whatever writes.

ALTER TABLE remotes ADD CONSTRAINT remotes_name_type UNIQUE (name, package_type);
ALTER TABLE locals ADD CONSTRAINT locals_name_type UNIQUE (name, package_type);
ALTER TABLE virtuals ADD CONSTRAINT virtuals_name_type UNIQUE (name, package_type);

CREATE TABLE virtual_members (
    virtual      text NOT NULL,
    -- The order requests try the members in: 0, 1, 2, ...
    position     integer NOT NULL CHECK (position >= 0),
    package_type text NOT NULL,
    remote       text,
    local        text,
    CHECK (num_nonnulls(remote, local) = 1),
    PRIMARY KEY (virtual, position),
    UNIQUE (virtual, remote),
    UNIQUE (virtual, local),
    FOREIGN KEY (virtual, package_type) REFERENCES virtuals (name, package_type) ON DELETE CASCADE,
    FOREIGN KEY (remote, package_type) REFERENCES remotes (name, package_type),
    FOREIGN KEY (local, package_type) REFERENCES locals (name, package_type)
);
-- What deleting (or retyping) a remote or a local checks.
CREATE INDEX virtual_members_remote ON virtual_members (remote) WHERE remote IS NOT NULL;
CREATE INDEX virtual_members_local ON virtual_members (local) WHERE local IS NOT NULL;

-- Specs as the API returns them: the stored spec with the member rows as its `members`, in
-- order. The catalog reads virtuals through this view, so what is served is what is enforced.
CREATE VIEW virtual_specs AS
    SELECT v.name,
           jsonb_set(v.spec, '{members}', COALESCE(
               (SELECT jsonb_agg(COALESCE(m.remote, m.local) ORDER BY m.position)
                  FROM virtual_members m WHERE m.virtual = v.name),
               '[]'::jsonb)) AS spec
      FROM virtuals v;

-- The existing lists, in order. A member that names no remote or local of the virtual's type
-- (left behind by the race this schema closes) or repeats an earlier one cannot be a row: it
-- is dropped, and named in a WARNING in the server's log.
DO $$
DECLARE
    gone record;
BEGIN
    CREATE TEMPORARY TABLE listed ON COMMIT DROP AS
        SELECT v.name AS virtual, v.package_type, m.member, m.ord, r.name AS remote, l.name AS local,
               row_number() OVER (PARTITION BY v.name, m.member ORDER BY m.ord) AS nth
          FROM virtuals v
         CROSS JOIN LATERAL jsonb_array_elements_text(
               CASE WHEN jsonb_typeof(v.members) = 'array' THEN v.members ELSE '[]'::jsonb END
           ) WITH ORDINALITY AS m(member, ord)
          LEFT JOIN remotes r ON r.name = m.member AND r.package_type = v.package_type
          LEFT JOIN locals l ON l.name = m.member AND l.package_type = v.package_type;
    INSERT INTO virtual_members (virtual, position, package_type, remote, local)
        SELECT virtual, (row_number() OVER (PARTITION BY virtual ORDER BY ord) - 1)::integer,
               package_type, remote, local
          FROM listed
         WHERE nth = 1 AND (remote IS NOT NULL OR local IS NOT NULL);
    FOR gone IN
        SELECT virtual, member FROM listed
         WHERE nth > 1 OR (remote IS NULL AND local IS NULL) ORDER BY virtual, ord
    LOOP
        RAISE WARNING 'virtual repository "%": member "%" dropped (no remote or local of its package type, or listed twice)',
            gone.virtual, gone.member;
    END LOOP;
END
$$;

-- The spec keeps a copy of the list (for a reader of the spec alone); the rows are the truth.
UPDATE virtuals v SET spec = s.spec FROM virtual_specs s WHERE s.name = v.name;

ALTER TABLE virtuals DROP COLUMN members;
