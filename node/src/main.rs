//! `regfed`: one binary for every tier of the regulatory data federation.

use std::process::ExitCode;

use clap::Parser;

/// glibc's allocator spends a third of the ingest path's time in malloc and free under
/// multi-threaded load; mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t` (mimalloc.h); libmimalloc-sys
/// names it only for mimalloc 2.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with a node before mimalloc returns it to the kernel.
/// With mimalloc's default (1 s) a node under steady ingest hands back pages between
/// batches and faults them in again, the kernel zeroing each one: 7% of the node's CPU in
/// a profile of `regfed bench`. Memory a burst used is still returned, ten seconds later.
/// Client commands keep the default, so an import's memory stays bounded as it streams.
const NODE_PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// `mi_option_allow_thp` in mimalloc 3's `mi_option_t` (mimalloc.h).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Turns transparent huge pages off for this process, as Redis and MongoDB advise for
/// theirs. mimalloc asks for huge pages on its arenas, and the kernel then zeroes 2 MiB
/// at each first touch: a freshly started province draining 100,000 records spent a
/// third of its CPU in the kernel (1.6 s) with them and 0.5 s without, and drained
/// 10-20% faster without (`bench-sync`; ARCHITECTURE.md, "Memory"). The prctl covers
/// the arena mimalloc reserved before `main`; the option stops it asking for more.
/// Every regfed process does this, so the benchmarks' raw limits run as the nodes do.
fn disable_transparent_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and changes only a flag
    // of this process.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // SAFETY: sets a plain integer option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    // rustls needs one process-wide crypto provider; regfed uses ring only. Installing
    // fails only when one is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = regfed::cli::Cli::parse();
    if cli.command.runs_a_node() {
        // SAFETY: sets a plain integer option before any other thread exists; mimalloc
        // reads it when it next decides whether to purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, NODE_PURGE_DELAY_MS) };
    }
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
