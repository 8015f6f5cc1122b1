//! The Go build-info reader (`go version -m`), and what the go-binary check
//! asks of its result.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use stowaway::policy::gobuildinfo;

fuzz_target!(|data: &[u8]| {
    if let Some(info) = gobuildinfo::parse(data) {
        let _ = info.cgo_enabled();
        let _ = info.trimpath();
        let _ = info.vcs_modified();
        if let Some(l) = info.ldflags() {
            let _ = gobuildinfo::ldflags_x_values(l);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = gobuildinfo::ldflags_x_values(s);
    }
});
