//! The commands of `cargo xtask`, one module each; main.rs dispatches to them. A command
//! loads what it needs (boards, the context), runs the [`crate::steps`] in order and reports.

pub mod bench;
pub mod bench_vpn;
pub mod boards;
pub mod build;
pub mod doctor;
pub mod flash;
pub mod inspect;
pub mod kernel;
pub mod run;
pub mod test;

use crate::board::Board;
use crate::context::Context;
use anyhow::Result;

/// The boards a command is about: one, or all.
pub fn boards(ctx: &Context, board: Option<&str>) -> Result<Vec<Board>> {
    let repo = ctx.repo();
    let ids = match board {
        Some(b) => vec![b.to_string()],
        None => repo.board_ids()?,
    };
    ids.iter().map(|id| repo.load_board(id)).collect()
}
