-- The one image a submission may carry (src/images.rs): stored once per
-- content, re-encoded without metadata, with a perceptual hash.

CREATE TABLE images (
    -- SHA-256 of the stored file, lower-case hex.
    id          TEXT    PRIMARY KEY,
    -- png | jpeg | webp
    format      TEXT    NOT NULL,
    width       INTEGER NOT NULL CHECK (width > 0),
    height      INTEGER NOT NULL CHECK (height > 0),
    bytes       INTEGER  NOT NULL CHECK (bytes > 0),
    -- The 64-bit difference hash, and its four 16-bit bands for lookups:
    -- hashes at most three bits apart share a band.
    hash        INTEGER  NOT NULL,
    band0       INTEGER NOT NULL,
    band1       INTEGER NOT NULL,
    band2       INTEGER NOT NULL,
    band3       INTEGER NOT NULL,
    -- The file itself when images live in the database (several instances
    -- on one PostgreSQL); NULL when it lives under the data directory.
    data        BLOB,
    uploaded_by TEXT    NOT NULL REFERENCES accounts (id),
    created_at  INTEGER  NOT NULL
);
CREATE INDEX images_band0 ON images (band0);
CREATE INDEX images_band1 ON images (band1);
CREATE INDEX images_band2 ON images (band2);
CREATE INDEX images_band3 ON images (band3);
CREATE INDEX images_uploaded_by ON images (uploaded_by, created_at);

ALTER TABLE submissions ADD COLUMN image_id TEXT REFERENCES images (id);
CREATE INDEX submissions_image ON submissions (image_id);
