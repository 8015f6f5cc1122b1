use std::process::ExitCode;

fn main() -> ExitCode {
    match stowaway::cli::run() {
        Ok(code) => code,
        Err(e) => {
            // One line: what failed, with its context chain (some causes,
            // such as regex syntax errors, span several lines).
            let msg = format!("{e:#}");
            let one_line: Vec<&str> = msg.split_whitespace().collect();
            let line = stowaway::redact::escape_controls(&one_line.join(" "));
            eprintln!("stowaway: error: {line}");
            ExitCode::from(2)
        }
    }
}
