//! The `streamrec` command line; see `streamrec --help`.

fn main() -> std::process::ExitCode {
    streamrec::cli::main()
}
