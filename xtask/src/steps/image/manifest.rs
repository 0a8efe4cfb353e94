//! What a build made: [`Artifact`] (one file in target/oxwrt/<board>/images/, with its
//! sha256) and target/oxwrt/<board>/manifest.json ([`write_manifest`]): board, version,
//! build id, kernel, packages and every artifact.

use crate::board::Board;
use crate::context::Context;
use crate::steps::kernel::BuildInfo;
use crate::steps::packages::Control;
use crate::steps::rootfs::BuildId;
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    /// File name in target/oxwrt/<board>/images/.
    pub name: String,
    /// What it is for.
    pub kind: String,
    pub size: u64,
    pub sha256: String,
}

impl Artifact {
    pub fn of(path: &Path, kind: &str) -> Result<Artifact> {
        let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Artifact {
            name: path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            kind: kind.into(),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(&data)),
        })
    }
}

/// target/oxwrt/<board>/manifest.json
#[derive(Debug, Serialize)]
pub struct Manifest<'a> {
    pub board: &'a str,
    pub oxwrt_version: &'a str,
    pub build_id: &'a str,
    pub source_date_epoch: u64,
    pub kernel: ManifestKernel<'a>,
    pub packages: Vec<ManifestPackage<'a>>,
    pub artifacts: &'a [Artifact],
}

#[derive(Debug, Serialize)]
pub struct ManifestKernel<'a> {
    pub version: &'a str,
    pub image: &'a str,
    pub image_bytes: u64,
    pub compression: &'a str,
    pub patches: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct ManifestPackage<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub license: &'a str,
    pub architecture: &'a str,
    pub archive: String,
    pub archive_sha256: String,
    pub installed_bytes: u64,
    /// The multi-call binary's package: the packages (and crates) its bytes belong to.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub contains: &'a [crate::steps::packages::multicall::Part],
}

pub fn write_manifest(
    ctx: &Context,
    board: &Board,
    id: &BuildId,
    kernel: &BuildInfo,
    packages: &[(Control, PathBuf)],
    artifacts: &[Artifact],
) -> Result<PathBuf> {
    let pkgs = packages
        .iter()
        .map(|(c, archive)| {
            Ok(ManifestPackage {
                name: &c.name,
                version: &c.version,
                license: &c.license,
                architecture: &c.architecture,
                archive: archive.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                archive_sha256: hex::encode(Sha256::digest(fs::read(archive)?)),
                installed_bytes: c.files.iter().map(|f| f.size).sum(),
                contains: &c.contains,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let m = Manifest {
        board: &board.id,
        oxwrt_version: &id.version,
        build_id: &id.build_id,
        source_date_epoch: id.epoch,
        kernel: ManifestKernel {
            version: &kernel.release,
            image: &kernel.image,
            image_bytes: kernel.image_bytes,
            compression: &kernel.compression,
            patches: &kernel.patches,
        },
        packages: pkgs,
        artifacts,
    };
    let path = ctx.board_out(&board.id).join("manifest.json");
    fs::write(&path, serde_json::to_vec_pretty(&m)?)?;
    Ok(path)
}
