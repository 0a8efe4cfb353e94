//! `cargo xtask`: oxwrt's build orchestrator. This file only dispatches; each command lives
//! in its own module under cmd/ (see ARCHITECTURE.md).

use clap::Parser;
use xtask::cmd::{bench, boards, build, doctor, flash, inspect, kernel, run, test};
use xtask::context::Context;
use xtask::flags::{BenchCmd, Cli, Cmd};

fn main() {
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::from_env(cli.verbose)?;
    match cli.command {
        Cmd::Boards => boards::list(&ctx),
        Cmd::CheckBoard { board } => boards::check(&ctx, board.as_deref()),
        Cmd::Doctor { board } => doctor::doctor(&ctx, board.as_deref()),
        Cmd::Setup { board, maintainer } => doctor::setup(&ctx, board.as_deref(), maintainer),
        Cmd::Kernel(args) => kernel::run(&ctx, args),
        Cmd::Build { board } => {
            let board = ctx.repo().load_board(&board)?;
            let built = build::build(&ctx, &board)?;
            build::summarize(&ctx, &board, &built);
            Ok(())
        }
        Cmd::Package { name, board } => build::package(&ctx, &ctx.repo().load_board(&board)?, &name).map(|_| ()),
        Cmd::Run { board, efi, fresh, port } => run::run(&ctx, &ctx.repo().load_board(&board)?, &run::RunArgs { efi, fresh, port }),
        Cmd::Flash(args) => flash::run(&ctx, &args),
        Cmd::Inspect { file, json } => inspect::run(&file, json),
        Cmd::Test { no_e2e } => test::run(&ctx, no_e2e),
        Cmd::Bench { what: BenchCmd::Kernel { board } } => bench::kernel(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Build { board } } => bench::build(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Flash { board } } => bench::flash(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Memory { board } } => bench::memory(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Net } => bench::net(&ctx),
        Cmd::Bench { what: BenchCmd::Vpn { board } } => xtask::cmd::bench_vpn::vpn(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Sqm { board } } => bench::sqm(&ctx, board.as_deref()),
        Cmd::Bench { what: BenchCmd::Web } => bench::web(&ctx),
    }
}
