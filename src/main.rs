use std::process::ExitCode;

fn main() -> ExitCode {
    match stowaway::cli::run() {
        Ok(code) => code,
        Err(e) => {
            // One line: what failed, with its context chain (some causes,
            // such as regex syntax errors, span several lines).
            let msg = format!("{e:#}");
            let one_line: Vec<&str> = msg.split_whitespace().collect();
            eprintln!("stowaway: error: {}", one_line.join(" "));
            ExitCode::from(2)
        }
    }
}
