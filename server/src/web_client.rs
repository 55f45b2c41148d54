//! The built web client under the site root. `scripts/build` names its
//! files after a hash of their content (`pkg/meritree.<hash>.js`,
//! `…_bg.wasm`, `….css`, and the public client's `….public.js`,
//! `….public_bg.wasm`) and writes that hash to `pkg/bundle`, so a file
//! name never changes meaning: browsers and the service worker keep the
//! files for good, and a release is a new name. A client built some other
//! way, without `pkg/bundle`, is served under its plain names and always
//! revalidated.

use std::path::Path;

/// The client bundle's base name (`name` in the workspace's leptos metadata).
pub const OUTPUT_NAME: &str = "meritree";
pub const SITE_PKG_DIR: &str = "pkg";
/// Holds the content hash of the bundle's files.
const BUNDLE_FILE: &str = "bundle";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebClient {
    /// The base name of the bundle's files, as the pages name them.
    pub output_name: String,
    /// Whether the names carry a content hash (so may be cached forever).
    pub hashed: bool,
    /// That hash: the release pages run (a page naming another is told
    /// to reload).
    pub release: Option<String>,
}

impl WebClient {
    /// What `site_root` holds; warns when the client is missing, since
    /// pages then render but nothing on them reacts.
    pub fn find(site_root: &Path) -> Self {
        let pkg = site_root.join(SITE_PKG_DIR);
        let client = match std::fs::read_to_string(pkg.join(BUNDLE_FILE)) {
            Ok(hash) if is_bundle_hash(hash.trim()) => Self {
                output_name: format!("{OUTPUT_NAME}.{}", hash.trim()),
                hashed: true,
                release: Some(hash.trim().to_owned()),
            },
            Ok(_) => {
                tracing::warn!("{SITE_PKG_DIR}/{BUNDLE_FILE} holds no bundle hash; ignored");
                Self::plain()
            }
            Err(_) => Self::plain(),
        };
        let full = format!("{}.js", client.output_name);
        let public = format!("{}.js", app::public_client_name(&client.output_name));
        for script in [full, public].map(|name| pkg.join(name)) {
            if !script.is_file() {
                tracing::warn!(
                    missing = %script.display(),
                    "the web client is not built (scripts/build): pages will render but not hydrate"
                );
            }
        }
        client
    }

    fn plain() -> Self {
        Self {
            output_name: OUTPUT_NAME.to_owned(),
            hashed: false,
            release: None,
        }
    }
}

use meritree_core::live::is_release as is_bundle_hash;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_hash_names_the_files_and_anything_else_is_ignored() {
        let site = tempfile::tempdir().unwrap();
        assert_eq!(WebClient::find(site.path()), WebClient::plain());
        std::fs::create_dir_all(site.path().join(SITE_PKG_DIR)).unwrap();
        let bundle = site.path().join(SITE_PKG_DIR).join(BUNDLE_FILE);
        std::fs::write(&bundle, "0123456789abcdef\n").unwrap();
        assert_eq!(
            WebClient::find(site.path()),
            WebClient {
                output_name: "meritree.0123456789abcdef".into(),
                hashed: true,
                release: Some("0123456789abcdef".into()),
            }
        );
        for bad in ["../../etc/passwd", "0123456789ABCDEF", "0123", ""] {
            std::fs::write(&bundle, bad).unwrap();
            assert_eq!(WebClient::find(site.path()), WebClient::plain(), "{bad}");
        }
    }
}
