-- The one image a submission may carry (src/images.rs): stored once per
-- content, re-encoded without metadata, with a perceptual hash.

CREATE TABLE images (
    -- SHA-256 of the stored file, lower-case hex.
    id          TEXT    PRIMARY KEY,
    -- png | jpeg | webp
    format      TEXT    NOT NULL,
    width       BIGINT NOT NULL CHECK (width > 0),
    height      BIGINT NOT NULL CHECK (height > 0),
    bytes       BIGINT  NOT NULL CHECK (bytes > 0),
    -- The 64-bit difference hash, and its four 16-bit bands for lookups:
    -- hashes at most three bits apart share a band.
    hash        BIGINT  NOT NULL,
    band0       BIGINT NOT NULL,
    band1       BIGINT NOT NULL,
    band2       BIGINT NOT NULL,
    band3       BIGINT NOT NULL,
    -- The file itself when images live in the database (several instances
    -- on one PostgreSQL); NULL when it lives under the data directory.
    data        BYTEA,
    uploaded_by TEXT    NOT NULL REFERENCES accounts (id),
    created_at  BIGINT  NOT NULL
);
CREATE INDEX images_band0 ON images (band0);
CREATE INDEX images_band1 ON images (band1);
CREATE INDEX images_band2 ON images (band2);
CREATE INDEX images_band3 ON images (band3);
CREATE INDEX images_uploaded_by ON images (uploaded_by, created_at);

ALTER TABLE submissions ADD COLUMN image_id TEXT REFERENCES images (id);
CREATE INDEX submissions_image ON submissions (image_id);
