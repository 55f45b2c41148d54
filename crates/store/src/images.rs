//! Images submissions carry: one row per distinct file (its id is the
//! file's SHA-256, so a second upload of the same bytes is the first),
//! with the file itself when images live in the database.

use crate::{with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImageRecord {
    pub id: String,
    pub format: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    /// The difference hash's 64 bits.
    pub hash: i64,
    pub uploaded_by: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, format, width, height, bytes, hash, uploaded_by, created_at";

pub struct NewImage<'a> {
    pub id: &'a str,
    pub format: &'a str,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub hash: u64,
    pub bands: [i32; 4],
    /// The file, when images live in the database.
    pub data: Option<&'a [u8]>,
    pub uploaded_by: &'a str,
    pub now: i64,
}

/// Stores the image unless a file with its id is stored already; either
/// way returns the stored row (the first uploader's).
pub async fn insert(db: &Database, new: NewImage<'_>) -> Result<ImageRecord, StoreError> {
    with_pool!(db, pool => sqlx::query(
        "INSERT INTO images (id, format, width, height, bytes, hash, band0, band1, band2, \
         band3, data, uploaded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id)
    .bind(new.format)
    .bind(new.width)
    .bind(new.height)
    .bind(new.bytes)
    .bind(new.hash as i64)
    .bind(i64::from(new.bands[0]))
    .bind(i64::from(new.bands[1]))
    .bind(i64::from(new.bands[2]))
    .bind(i64::from(new.bands[3]))
    .bind(new.data)
    .bind(new.uploaded_by)
    .bind(new.now)
    .execute(pool)
    .await
    .map(|_| ()))?;
    let sql = format!("SELECT {COLUMNS} FROM images WHERE id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(new.id).fetch_one(pool).await)?)
}

pub async fn get(db: &Database, id: &str) -> Result<Option<ImageRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM images WHERE id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
}

/// The file, when it lives in the database.
pub async fn data(db: &Database, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(Option<Vec<u8>>,)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT data FROM images WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|(data,)| data))
}

/// Submissions that arrived before `before` (by `seq`) with an image
/// sharing a band with `bands`, oldest first, with their image's hash:
/// the candidates for a near-duplicate picture, to be checked bit by bit.
pub async fn earlier_sharing_a_band(
    db: &Database,
    bands: [i32; 4],
    before: i64,
    limit: u32,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT s.id, i.hash FROM submissions s JOIN images i ON i.id = s.image_id \
         WHERE (i.band0 = $1 OR i.band1 = $2 OR i.band2 = $3 OR i.band3 = $4) \
         AND s.seq < $5 ORDER BY s.seq LIMIT $6",
    )
    .bind(i64::from(bands[0]))
    .bind(i64::from(bands[1]))
    .bind(i64::from(bands[2]))
    .bind(i64::from(bands[3]))
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await)?)
}
