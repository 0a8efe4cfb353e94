//! `cargo xtask`: oxwrt's build orchestrator. This file only dispatches; each command lives
//! in its own module (see ARCHITECTURE.md).

use clap::Parser;
use flags::{BenchCmd, Cli, Cmd};
use xtask::{bench, boards_cmd, build_cmd, context, flags, kernel_cmd, run_cmd, test_cmd, toolchain};

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = context::Context::from_env(cli.verbose)?;
    match cli.command {
        Cmd::Boards => boards_cmd::list(&ctx),
        Cmd::CheckBoard { board } => boards_cmd::check(&ctx, board.as_deref()),
        Cmd::Doctor { board } => toolchain::doctor(&ctx, board.as_deref()),
        Cmd::Setup { board, maintainer } => toolchain::setup(&ctx, board.as_deref(), maintainer),
        Cmd::Kernel(args) => kernel_cmd::run(&ctx, args),
        Cmd::Build { board } => {
            let board = ctx.repo().load_board(&board)?;
            let built = build_cmd::build(&ctx, &board)?;
            build_cmd::summarize(&ctx, &board, &built);
            Ok(())
        }
        Cmd::Package { name, board } => build_cmd::package(&ctx, &ctx.repo().load_board(&board)?, &name).map(|_| ()),
        Cmd::Run { board, efi, fresh, port } => run_cmd::run(&ctx, &ctx.repo().load_board(&board)?, &run_cmd::RunArgs { efi, fresh, port }),
        Cmd::Flash(args) => xtask::flash_cmd::run(&ctx, &args),
        Cmd::Inspect { file, json } => xtask::inspect_cmd::run(&file, json),
        Cmd::Test { no_e2e } => test_cmd::run(&ctx, no_e2e),
        Cmd::Bench { what: BenchCmd::Kernel { board } } => bench::kernel(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Build { board } } => bench::build(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Flash { board } } => bench::flash(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Net } => bench::net(&ctx),
    }
}
