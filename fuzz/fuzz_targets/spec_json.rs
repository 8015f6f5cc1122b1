//! The JSON documents an image is made of (OCI index/manifest, Docker
//! manifest list, docker save manifest.json, image config), parsed with the
//! reader's serde views, then what the audit does with a config: the
//! history-to-layer mapping and the config scan (ENV, labels, build args in
//! history lines).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use stowaway::image::spec::{DockerManifestEntry, ImageConfig, ManifestOrIndex};
use stowaway::rules::RuleSet;

fn rules() -> &'static RuleSet {
    static R: OnceLock<RuleSet> = OnceLock::new();
    R.get_or_init(|| RuleSet::load(&[]).expect("built-in rules"))
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ManifestOrIndex>(data);
    let _ = serde_json::from_slice::<Vec<DockerManifestEntry>>(data);
    if let Ok(cfg) = serde_json::from_slice::<ImageConfig>(data) {
        let _ = cfg.platform().display();
        let _ = cfg.layer_history();
        let _ = stowaway::config_scan::scan_config(rules(), &cfg);
    }
});
