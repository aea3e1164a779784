//! `regfed`: one binary for every tier of the regulatory data federation.

use std::process::ExitCode;

use clap::Parser;

/// glibc's allocator spends a third of the ingest path's time in malloc and free under
/// multi-threaded load; mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // rustls needs one process-wide crypto provider; regfed uses ring only. Installing
    // fails only when one is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = regfed::cli::Cli::parse();
    regfed::cli::init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(regfed::cli::dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", regfed::cli::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}
