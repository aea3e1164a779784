//! Black-box tests: they start the real `regfed` binary as separate processes on
//! 127.0.0.1 with ports the OS picked, temporary directories and freshly generated
//! certificates, and check what a user would check.

mod harness;

mod bench;
mod cli;
mod cluster;
mod crash;
mod excel;
mod federation;
mod federation_faults;
mod federation_refusals;
mod ha;
mod ha_federation;
mod ingest;
mod proxy;
mod security;
