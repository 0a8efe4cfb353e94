//! Image formats (see Cargo.toml description).
