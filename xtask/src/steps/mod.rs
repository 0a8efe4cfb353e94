//! The build steps, in the order `cargo xtask build` runs them: [`kernel`] (source ->
//! patches -> config -> make), [`packages`] (package.toml -> cross-compiled crates ->
//! `.oxpkg` archives), [`rootfs`] (archives -> squashfs), [`image`] (kernel + rootfs ->
//! the board's images and manifest.json). Each takes a board and the context and leaves its
//! output under target/oxwrt/<board>/.

pub mod image;
pub mod kernel;
pub mod packages;
pub mod rootfs;
