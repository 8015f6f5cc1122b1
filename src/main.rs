use std::process::ExitCode;

fn main() -> ExitCode {
    match stowaway::cli::run() {
        Ok(code) => code,
        Err(e) => {
            // One line: what failed, with its context chain.
            eprintln!("stowaway: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
