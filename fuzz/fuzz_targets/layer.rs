//! The streaming walk of one layer blob (decompression sniffed from the
//! bytes, the bounded tar walk, content/path/residue rules, known-secret
//! search), then the merge and the final-filesystem symlink resolution and
//! second-pass file reads on what it indexed.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use stowaway::image::LayerRef;
use stowaway::knownkey::KnownKeys;
use stowaway::layer::{extract_files, scan_layer, Spec};
use stowaway::limits::Limits;
use stowaway::merge::FinalTree;
use stowaway::policy::FinalFs;
use stowaway::rules::RuleSet;

fn rules() -> &'static RuleSet {
    static R: OnceLock<RuleSet> = OnceLock::new();
    R.get_or_init(|| RuleSet::load(&[]).expect("built-in rules"))
}

fn known() -> &'static KnownKeys {
    // One key, so the PEM / DER / base64 / hex decoders run on every file.
    static K: OnceLock<KnownKeys> = OnceLock::new();
    K.get_or_init(|| {
        KnownKeys::new(&["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()])
            .expect("a sha256")
    })
}

fuzz_target!(|data: &[u8]| {
    let layer = LayerRef {
        member: "layer.tar".into(),
        digest: None,
        diff_id: String::new(),
        media_type: None,
        compressed_size: data.len() as u64,
    };
    // Lower than the CLI's defaults so bombs stop fast; same code path.
    let limits = Limits {
        layer_bytes: 64 << 20,
        image_bytes: 64 << 20,
        entries: 100_000,
        path_length: 4096,
    };
    let image_bytes = AtomicU64::new(0);
    let capture = |p: &str| p.ends_with(".pem") || p.starts_with("/etc/");
    let spec = Spec {
        rules: rules(),
        known: known(),
        capture: &capture,
        limits: &limits,
        image_bytes: &image_bytes,
    };
    let Ok(scan) = scan_layer(&spec, &layer, &mut &data[..], &|_| {}) else {
        return;
    };
    let layers = [&scan];
    let tree = FinalTree::build(&layers);
    for (i, e) in scan.entries.iter().enumerate() {
        let _ = tree.state(0, i, &e.path);
    }
    let fetch = |_: usize, paths: &HashSet<String>| -> anyhow::Result<HashMap<String, Vec<u8>>> {
        extract_files(&mut &data[..], paths)
    };
    let fs = FinalFs::new(&tree, &layers, &fetch);
    for e in scan.entries.iter().take(64) {
        let _ = fs.resolve(&e.path);
        let _ = fs.read(&e.path);
    }
});
