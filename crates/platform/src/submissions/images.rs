//! The image a submission may carry: decoded to prove it is one (within
//! bounds set before any pixel is decoded), turned upright by its EXIF
//! orientation, scaled down to the stored size, re-encoded in its own
//! format so that no metadata (EXIF, GPS, comments, profiles) survives,
//! hashed for identity (SHA-256) and likeness (a difference hash), and
//! stored once per content.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use meritree_core::submissions::image::{
    self as rules, check_dimensions, check_upload, stored_size, ImageError, ImageFormat, ImageId,
};
use sha2::{Digest, Sha256};

/// JPEG quality of re-encoded photos: visually lossless for the web.
const JPEG_QUALITY: u8 = 85;

/// Where image files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStorage {
    /// Under this directory, `ab/abcd….png` by id: the default with SQLite.
    Files(PathBuf),
    /// In the `images` table, which every instance sharing the database
    /// reads: the default with PostgreSQL.
    Database,
}

/// An upload, checked and re-encoded, ready to store.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: ImageId,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub file: Vec<u8>,
    /// The difference hash of what is stored.
    pub hash: u64,
}

/// Checks and re-encodes an upload. CPU-bound (up to a second for the
/// largest): call it on a blocking thread.
pub fn prepare(content_type: &str, upload: &[u8]) -> Result<Prepared, ImageError> {
    let format = check_upload(content_type, upload)?;
    let mut reader = ImageReader::with_format(Cursor::new(upload), codec(format));
    let mut limits = Limits::default();
    limits.max_image_width = Some(rules::MAX_SIDE);
    limits.max_image_height = Some(rules::MAX_SIDE);
    // Four bytes a pixel, twice (decoded and converted), and some room.
    limits.max_alloc = Some(rules::MAX_PIXELS * 8 + 64 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height)?;
    let orientation = decoder.orientation().map_err(refusal)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    picture.apply_orientation(orientation);

    let (width, height) = stored_size(picture.width(), picture.height());
    if (width, height) != (picture.width(), picture.height()) {
        picture = picture.resize_exact(width, height, FilterType::Triangle);
    }
    let file = encode(&picture, format);
    let id = ImageId::parse(&hex(&Sha256::digest(&file))).expect("SHA-256 is 64 hex digits");
    Ok(Prepared {
        id,
        format,
        width,
        height,
        hash: difference_hash(&picture),
        file,
    })
}

fn codec(format: ImageFormat) -> image::ImageFormat {
    match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Webp => image::ImageFormat::WebP,
    }
}

fn refusal(error: image::ImageError) -> ImageError {
    match error {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        _ => ImageError::Undecodable,
    }
}

/// The pixels alone, in the upload's format. Encoders write no metadata
/// unless handed some, and none is.
fn encode(picture: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut file = Cursor::new(Vec::new());
    let written = match format {
        ImageFormat::Png => picture.write_to(&mut file, image::ImageFormat::Png),
        // JPEG has no alpha; WebP (lossless here) takes 8-bit RGB(A).
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(picture.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut file, JPEG_QUALITY)),
        ImageFormat::Webp => DynamicImage::ImageRgba8(picture.to_rgba8())
            .write_with_encoder(WebPEncoder::new_lossless(&mut file)),
    };
    written.expect("encoding decoded pixels into memory cannot fail");
    file.into_inner()
}

fn difference_hash(picture: &DynamicImage) -> u64 {
    let grey = picture.resize_exact(9, 8, FilterType::Triangle).to_luma8();
    let pixels: [u8; 72] = grey
        .into_raw()
        .try_into()
        .expect("a 9 by 8 grey image has 72 pixels");
    rules::difference_hash(&pixels)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the file of `id` lives under `dir`: two levels, so no directory
/// grows past a few thousand entries.
pub fn file_path(dir: &Path, id: &ImageId, format: ImageFormat) -> PathBuf {
    let id = id.as_str();
    dir.join(&id[..2]).join(format!("{id}.{}", format.as_str()))
}

/// Writes the file unless it is there: by a temporary name then a rename,
/// so a reader never sees half a file and a crash leaves none.
pub async fn write_file(path: &Path, file: &[u8]) -> std::io::Result<()> {
    if tokio::fs::try_exists(path).await? {
        return Ok(());
    }
    let dir = path.parent().expect("an image path has a directory");
    tokio::fs::create_dir_all(dir).await?;
    let temporary = dir.join(format!(".{}.{}", uuid::Uuid::new_v4(), "part"));
    tokio::fs::write(&temporary, file).await?;
    tokio::fs::rename(&temporary, path).await
}

#[cfg(test)]
mod tests {
    use image::{ImageBuffer, Rgb, RgbImage};

    use super::*;

    /// Squares and slopes, the same picture at any size.
    fn gradient(width: u32, height: u32) -> RgbImage {
        ImageBuffer::from_fn(width, height, |x, y| {
            let (u, v) = (x * 64 / width, y * 48 / height);
            let checker = if (u / 8 + v / 8) % 2 == 0 { 200 } else { 40 };
            Rgb([checker, (u * 4) as u8, (v * 5) as u8])
        })
    }

    fn png(picture: &RgbImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_png_is_re_encoded_without_its_text_chunks() {
        let mut upload = png(&gradient(64, 48));
        // A tEXt chunk after IHDR (8-byte signature + 25-byte IHDR chunk).
        let text = b"Comment\0taken at 51.5N 0.1W";
        let mut chunk = (text.len() as u32).to_be_bytes().to_vec();
        chunk.extend(b"tEXt");
        chunk.extend(text);
        let crc = crc32(&chunk[4..]);
        chunk.extend(crc.to_be_bytes());
        upload.splice(33..33, chunk);
        let prepared = prepare("image/png", &upload).unwrap();
        assert_eq!((prepared.width, prepared.height), (64, 48));
        assert!(!prepared.file.windows(4).any(|w| w == b"tEXt"));
        assert!(!prepared.file.windows(7).any(|w| w == b"51.5N 0"));
        // The same pixels give the same file, so the same id.
        assert_eq!(
            prepare("image/png", &png(&gradient(64, 48))).unwrap().id,
            prepared.id
        );
    }

    #[test]
    fn large_pictures_are_scaled_down_and_keep_their_likeness() {
        let big = gradient(4_000, 1_000);
        let prepared = prepare("image/png", &png(&big)).unwrap();
        assert_eq!((prepared.width, prepared.height), (2_048, 512));
        let small = prepare("image/png", &png(&gradient(400, 100))).unwrap();
        assert!(rules::distance(prepared.hash, small.hash) <= rules::MAX_SEARCHABLE_DISTANCE);
        assert_ne!(prepared.id, small.id);
    }

    #[test]
    fn what_is_not_an_image_is_refused() {
        let mut broken = png(&gradient(32, 32));
        broken.truncate(60);
        assert_eq!(
            prepare("image/png", &broken).unwrap_err(),
            ImageError::Undecodable
        );
        assert_eq!(
            prepare("image/png", b"\x89PNG\r\n\x1a\n").unwrap_err(),
            ImageError::Undecodable
        );
        assert_eq!(
            prepare("image/svg+xml", b"<svg/>").unwrap_err(),
            ImageError::UnsupportedFormat
        );
    }

    #[test]
    fn a_header_claiming_huge_dimensions_is_refused_before_decoding() {
        let mut upload = png(&gradient(8, 8));
        // IHDR's width and height, then its CRC.
        upload[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        upload[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&upload[12..29]);
        upload[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            prepare("image/png", &upload).unwrap_err(),
            ImageError::TooManyPixels
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
