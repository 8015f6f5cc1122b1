//! The image readers and the whole audit. The input is an image file (docker
//! save tarball, OCI archive, optionally gzip/zstd-wrapped). It is written to
//! a temp file and audited with `audit::audit_source`, which opens it with
//! `image::open` (container index, manifest.json / index.json walk, configs)
//! and then scans every layer and runs the policy, as `stowaway audit` does.
//! (The `layout` target covers the directory form and fuzzed JSON that
//! passes the digest checks.)
#![no_main]

mod audit_input;
mod common;

use audit_input::{options, rules};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use stowaway::audit::{audit_source, Options};
use stowaway::report::{Report, Tool, SCHEMA};
use stowaway::severity::Severity;

fn input_path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("stowaway-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("image.tar")
    })
}

fn audit_and_render(path: &Path, opts: &Options) {
    let Ok(images) = audit_source(path, rules(), opts) else {
        return;
    };
    // Render like the CLI does: the report writers see hostile strings too.
    let report = Report {
        schema: SCHEMA,
        tool: Tool {
            name: "stowaway",
            version: "fuzz",
            rules: rules().rules().len(),
            rules_hash: rules().hash().to_string(),
            fail_on: Severity::High,
        },
        images,
    };
    let _ = stowaway::report::render_text(&report);
    let _ = stowaway::report::render_json(&report);
    let _ = stowaway::report::sarif::render_sarif(&report);
    let _ = stowaway::report::junit::render_junit(&report);
    let _ = stowaway::report::markdown::render_markdown(&report);
}

fuzz_target!(|data: &[u8]| {
    let opts = options();
    let file = input_path();
    std::fs::write(file, data).unwrap();
    audit_and_render(file, &opts);
});
