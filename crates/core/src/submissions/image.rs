//! The one image a submission may carry: the formats and size taken (the
//! upload form checks them before sending, the server again), its id (the
//! SHA-256 of the re-encoded file, so a copy is stored once), and the
//! perceptual hash that finds the same picture re-encoded, resized or
//! lightly edited.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An upload's largest size in bytes: 5 MiB.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Either side of an upload, in pixels, at most; larger ones are refused
/// before their pixels are decoded.
pub const MAX_SIDE: u32 = 8_192;
/// Pixels of an upload at most (about 40 megapixels): what a decoder may
/// allocate stays bounded whatever the file claims.
pub const MAX_PIXELS: u64 = 40_000_000;
/// The long side of a stored image at most; larger uploads are scaled down.
pub const STORED_SIDE: u32 = 2_048;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 3] = [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp];

    /// The format a `Content-Type` names, if it is one taken.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next()?.trim();
        Self::ALL
            .into_iter()
            .find(|f| essence.eq_ignore_ascii_case(f.content_type()))
    }

    /// The format the file's first bytes announce, if it is one taken.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Some(ImageFormat::Png),
            [0xFF, 0xD8, 0xFF, ..] => Some(ImageFormat::Jpeg),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => {
                Some(ImageFormat::Webp)
            }
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Webp => "webp",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// Why an upload was refused; the message is shown to the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    Empty,
    TooLarge,
    /// Not PNG, JPEG or WebP by its content type or its first bytes.
    UnsupportedFormat,
    /// Its content type and its bytes disagree.
    FormatMismatch,
    /// The bytes do not decode as the image they claim to be.
    Undecodable,
    TooManyPixels,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Empty => f.write_str("the image is empty"),
            ImageError::TooLarge => write!(f, "an image is at most {} MB", MAX_BYTES / 1024 / 1024),
            ImageError::UnsupportedFormat => f.write_str("an image is a PNG, JPEG or WebP file"),
            ImageError::FormatMismatch => {
                f.write_str("the file is not the kind of image its type says")
            }
            ImageError::Undecodable => f.write_str("the file is damaged or not an image"),
            ImageError::TooManyPixels => write!(
                f,
                "an image is at most {MAX_SIDE} pixels on a side and {} megapixels",
                MAX_PIXELS / 1_000_000
            ),
        }
    }
}

impl std::error::Error for ImageError {}

/// The checks that need no decoding, as the browser can make them before
/// uploading: the size, and the declared type against the first bytes.
pub fn check_upload(content_type: &str, bytes: &[u8]) -> Result<ImageFormat, ImageError> {
    let declared = check_file(content_type, bytes.len())?;
    match ImageFormat::sniff(bytes) {
        Some(sniffed) if sniffed == declared => Ok(declared),
        Some(_) => Err(ImageError::FormatMismatch),
        None => Err(ImageError::Undecodable),
    }
}

/// What a file picker tells before the file is read: its type and size.
pub fn check_file(content_type: &str, size: usize) -> Result<ImageFormat, ImageError> {
    if size == 0 {
        return Err(ImageError::Empty);
    }
    if size > MAX_BYTES {
        return Err(ImageError::TooLarge);
    }
    ImageFormat::from_content_type(content_type).ok_or(ImageError::UnsupportedFormat)
}

/// Whether a decoder may go on to the pixels of an image this large.
pub fn check_dimensions(width: u32, height: u32) -> Result<(), ImageError> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS {
        return Err(ImageError::TooManyPixels);
    }
    Ok(())
}

/// The size an image is stored at: at most [`STORED_SIDE`] on its long
/// side, the aspect kept, never scaled up.
pub fn stored_size(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= STORED_SIDE {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(STORED_SIDE) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    (scale(width), scale(height))
}

/// An image's id: the lower-case hex SHA-256 of the stored file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageId(String);

impl ImageId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let hex = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex {
            return Err("an image id is 64 lower-case hex digits");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the public reads it.
    pub fn url(&self) -> String {
        format!("/images/{}", self.0)
    }
}

impl TryFrom<String> for ImageId {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ImageId> for String {
    fn from(id: ImageId) -> String {
        id.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored image as pages and the API show it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageView {
    pub id: ImageId,
    pub url: String,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// A difference hash: the image in grey, 9 by 8 pixels, one bit per pair
/// of neighbours in a row (is the left one brighter?). Re-encoding,
/// scaling and small edits leave most bits alone; another picture agrees
/// on about half.
pub fn difference_hash(grey_9x8: &[u8; 72]) -> u64 {
    let mut hash = 0u64;
    for row in 0..8 {
        for col in 0..8 {
            let left = grey_9x8[row * 9 + col];
            let right = grey_9x8[row * 9 + col + 1];
            hash = (hash << 1) | u64::from(left > right);
        }
    }
    hash
}

/// Bits in which two hashes differ.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Hashes at most this many bits apart can be found through
/// [`bands`]: of four 16-bit bands, one must then agree exactly.
pub const MAX_SEARCHABLE_DISTANCE: u32 = 3;

/// The hash cut into four 16-bit bands, for an index lookup: two hashes
/// at most [`MAX_SEARCHABLE_DISTANCE`] bits apart share at least one band
/// (four bands cannot each hold one of three differing bits).
pub fn bands(hash: u64) -> [i32; 4] {
    [48, 32, 16, 0].map(|shift| i32::from((hash >> shift) as u16))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn uploads_are_checked_by_type_and_first_bytes() {
        let png = b"\x89PNG\r\n\x1a\n rest";
        assert_eq!(check_upload("image/png", png), Ok(ImageFormat::Png));
        assert_eq!(check_upload("IMAGE/PNG; q=1", png), Ok(ImageFormat::Png));
        assert_eq!(
            check_upload("image/jpeg", png),
            Err(ImageError::FormatMismatch)
        );
        assert_eq!(
            check_upload("image/gif", png),
            Err(ImageError::UnsupportedFormat)
        );
        assert_eq!(
            check_upload("image/png", b"<svg>"),
            Err(ImageError::Undecodable)
        );
        assert_eq!(check_upload("image/png", b""), Err(ImageError::Empty));
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0];
        assert_eq!(check_upload("image/jpeg", &jpeg), Ok(ImageFormat::Jpeg));
        assert_eq!(
            check_upload("image/webp", b"RIFF\0\0\0\0WEBPVP8 "),
            Ok(ImageFormat::Webp)
        );
        let mut big = png.to_vec();
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(check_upload("image/png", &big), Err(ImageError::TooLarge));
    }

    #[test]
    fn dimensions_are_bounded_on_each_side_and_in_total() {
        assert!(check_dimensions(8_192, 4_000).is_ok());
        assert!(check_dimensions(8_193, 10).is_err());
        assert!(check_dimensions(8_000, 8_000).is_err(), "64 megapixels");
        assert!(check_dimensions(0, 10).is_err());
        assert_eq!(stored_size(4_096, 1_024), (2_048, 512));
        assert_eq!(stored_size(1_000, 3_000), (683, 2_048));
        assert_eq!(stored_size(640, 480), (640, 480));
        assert_eq!(stored_size(8_192, 1), (2_048, 1));
    }

    #[test]
    fn ids_are_sha256_hex() {
        let id = "a".repeat(64);
        assert_eq!(ImageId::parse(&id).unwrap().url(), format!("/images/{id}"));
        assert!(ImageId::parse(&"A".repeat(64)).is_err());
        assert!(ImageId::parse("../etc/passwd").is_err());
        assert!(ImageId::parse(&"a".repeat(63)).is_err());
    }

    proptest! {
        #[test]
        fn hashes_close_enough_always_share_a_band(hash: u64, flips in proptest::collection::vec(0u32..64, 0..=3)) {
            let other = flips.iter().fold(hash, |h, bit| h ^ (1 << bit));
            prop_assert!(distance(hash, other) <= MAX_SEARCHABLE_DISTANCE);
            let (a, b) = (bands(hash), bands(other));
            prop_assert!(a.iter().zip(&b).any(|(x, y)| x == y));
        }

        #[test]
        fn a_uniform_brightening_keeps_the_difference_hash(pixels in proptest::array::uniform32(0u8..200), extra in proptest::array::uniform32(0u8..200), lift in 1u8..50) {
            let mut grey = [0u8; 72];
            for (i, p) in pixels.iter().chain(extra.iter()).cycle().take(72).enumerate() {
                grey[i] = *p;
            }
            let brighter = grey.map(|p| p + lift);
            prop_assert_eq!(difference_hash(&grey), difference_hash(&brighter));
        }
    }
}
