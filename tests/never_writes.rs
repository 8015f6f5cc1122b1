//! The audit writes nothing but the report files it is asked for: with a
//! read-only home, a read-only working directory and a read-only TMPDIR it
//! still succeeds in every output format, and no directory it could reach
//! changes. As root (CI), the audit runs as `nobody` through `setpriv`, so
//! the read-only modes are enforced by the kernel, not merely checked after.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every path under `root` with its kind, size, mode and mtime.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.insert(
            p.clone(),
            format!(
                "{:?} {} {:o} {:?}",
                m.file_type(),
                m.len(),
                m.permissions().mode(),
                m.modified().unwrap()
            ),
        );
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `stowaway args…` with HOME, XDG dirs, TMPDIR and the working directory all
/// pointing into the read-only `ro` tree; as `nobody` when we are root.
fn audit(ro: &Path, args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let bin = env!("CARGO_BIN_EXE_stowaway");
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    c.args(args)
        .current_dir(ro.join("work"))
        .env("HOME", ro.join("home"))
        .env("XDG_CACHE_HOME", ro.join("home/.cache"))
        .env("XDG_CONFIG_HOME", ro.join("home/.config"))
        .env("TMPDIR", ro.join("tmp"));
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{c:?}: {e} (setpriv is util-linux's)"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn audit_writes_nothing_but_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    for d in ["home/.cache", "home/.config", "work", "tmp", "images"] {
        std::fs::create_dir_all(ro.join(d)).unwrap();
    }
    let tar = ro.join("images/leaky.tar");
    write_docker_classic(&[leaky_image()], &tar);
    let layout = ro.join("images/leaky-oci");
    write_oci_layout(&[leaky_image()], &layout, MediaFamily::Oci, false);
    // The report's own directory: the one place the audit may write.
    let reports = dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    chmod(&reports, 0o777);
    // Read-only everywhere else (readable by `nobody`).
    let mut dirs = vec![dir.path().to_path_buf()];
    dirs.extend(
        snapshot(&ro)
            .keys()
            .filter(|p| p.is_dir())
            .cloned()
            .collect::<Vec<_>>(),
    );
    for p in snapshot(&ro).keys() {
        chmod(p, if p.is_dir() { 0o555 } else { 0o444 });
    }
    chmod(dir.path(), 0o755);
    let before = snapshot(&ro);

    for source in [&tar, &layout] {
        for format in ["text", "json", "sarif", "junit", "markdown"] {
            let (code, out, err) = audit(
                &ro,
                &[
                    "audit".as_ref(),
                    source.as_os_str(),
                    "--format".as_ref(),
                    format.as_ref(),
                    "--no-progress".as_ref(),
                ],
            );
            assert_eq!(code, 1, "{format} {}: {err}", source.display());
            assert!(!out.is_empty(), "{format}: empty report");
        }
        let report = reports.join("r.sarif");
        let (code, _, err) = audit(
            &ro,
            &[
                "audit".as_ref(),
                source.as_os_str(),
                "--format".as_ref(),
                "json".as_ref(),
                "--format".as_ref(),
                format!("sarif={}", report.display()).as_ref(),
                "--no-progress".as_ref(),
            ],
        );
        assert_eq!(code, 1, "{err}");
        assert!(std::fs::metadata(&report).unwrap().len() > 0);
        std::fs::remove_file(&report).unwrap();
    }

    assert_eq!(
        snapshot(&ro),
        before,
        "the audit changed the read-only tree"
    );
    let left: Vec<_> = std::fs::read_dir(&reports).unwrap().collect();
    assert!(left.is_empty(), "stray files beside the report: {left:?}");
    // Let the temp dir be removed.
    for p in dirs {
        chmod(&p, 0o755);
    }
}
