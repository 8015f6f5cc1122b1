//! Hostile input: images an attacker may have built. One table, one test:
//! every case says what it builds, the flags, and what must come out (an
//! exit-2 error with one line naming the file and the problem, or a report
//! verdict). Whatever the case, the audit must never panic, never hang
//! (a watchdog kills it after [`WATCHDOG`]) and stay under [`mem_bound`] of
//! peak RSS. Time and peak memory are measured and printed for every case;
//! only memory is asserted.
//!
//! Decompression bombs are built streaming (a small compressed frame of zeros
//! repeated), so the fixtures stay small whatever they expand to. The layer
//! bombs expand to `STOWAWAY_BOMB_MIB` (default 32 MiB; the tar-header bombs
//! have fixed sizes). The debug binary reads ~5-20 MB/s, so run the 2 GiB
//! version against the release binary:
//! `STOWAWAY_BOMB_MIB=2048 cargo test --release --test hostile -- --nocapture`.
//!
//! Where stowaway has no limit yet (bytes per layer or image, entries, path
//! length), the case pins the CURRENT behaviour (it reads everything) and
//! says so in its name (`no limit yet`): when limits land, those cases must
//! change to the limit's error.
//!
//! The second half of the file holds minimal reproducers for the bugs the
//! fuzzers found (see `fuzz/`).

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// A case running longer than this is killed and fails as a hang.
const WATCHDOG: Duration = Duration::from_secs(240);

fn bomb_mib() -> u64 {
    std::env::var("STOWAWAY_BOMB_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32)
}

/// Expanded size of a layer decompression bomb (multiple of 8 MiB).
fn bomb_bytes() -> u64 {
    (bomb_mib().max(8) / 8 * 8) * MIB
}

/// Expanded size of a tar-header bomb: fixed, large enough that reading it
/// whole breaks [`mem_bound`] (a GNU long name costs ~8x its size: the path
/// is copied and matched several times; PAX records ~1.2x).
const LONG_NAME_BOMB: u64 = 48 * MIB;
const PAX_BOMB: u64 = 128 * MIB;

/// Peak RSS any case may reach: streaming keeps an audit at a few tens of MB.
fn mem_bound() -> u64 {
    100 * MIB
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    peak_rss: u64,
    killed: bool,
}

impl Outcome {
    fn report(&self) -> Result<Value, String> {
        serde_json::from_str(&self.stdout).map_err(|e| {
            format!(
                "no JSON report ({e}); exit {}; stderr: {}",
                self.code,
                self.stderr.trim()
            )
        })
    }
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs stowaway, polling its peak RSS (VmHWM) until it exits.
fn run_measured(args: &[std::ffi::OsString]) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stowaway"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stowaway");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let pid = child.id();
    let mut peak = 0;
    let mut killed = false;
    let status = loop {
        if let Some(h) = vm_hwm(pid) {
            peak = peak.max(h);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            killed = true;
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        elapsed,
        peak_rss: peak,
        killed,
    }
}

type Check = Box<dyn Fn(&Outcome, &Path) -> Result<(), String> + Send + Sync>;
type Build = Box<dyn Fn(&Path) -> PathBuf + Send + Sync>;

struct Case {
    name: &'static str,
    /// Extra flags (`--format json --no-progress` are always given).
    args: Vec<&'static str>,
    build: Build,
    check: Check,
}

fn case(
    name: &'static str,
    args: &[&'static str],
    build: impl Fn(&Path) -> PathBuf + Send + Sync + 'static,
    check: Check,
) -> Case {
    Case {
        name,
        args: args.to_vec(),
        build: Box::new(build),
        check,
    }
}

/// Exit 2, nothing on stdout, one stderr line naming the source and holding
/// every one of `problems`.
fn error(problems: &'static [&'static str]) -> Check {
    Box::new(move |o: &Outcome, src: &Path| {
        if o.code != 2 {
            return Err(format!(
                "exit {} (want 2); stderr: {}",
                o.code,
                o.stderr.trim()
            ));
        }
        if !o.stdout.is_empty() {
            return Err(format!("a report on failure: {:.200}", o.stdout));
        }
        if o.stderr.lines().count() != 1 {
            return Err(format!("stderr is not one line: {:?}", o.stderr));
        }
        let shown = src.display().to_string();
        if !o.stderr.contains(&shown) {
            return Err(format!("stderr does not name {shown}: {}", o.stderr.trim()));
        }
        for p in problems {
            if !o.stderr.contains(p) {
                return Err(format!("stderr does not say {p:?}: {}", o.stderr.trim()));
            }
        }
        Ok(())
    })
}

/// Exit `code` and a JSON report that `f` accepts (given the first image).
fn verdict(code: i32, f: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static) -> Check {
    Box::new(move |o: &Outcome, _: &Path| {
        let r = o.report()?;
        if o.code != code {
            return Err(format!(
                "exit {} (want {code}); stderr: {}; findings: {}",
                o.code,
                o.stderr.trim(),
                findings_summary(&r)
            ));
        }
        let img = r["images"]
            .get(0)
            .ok_or_else(|| format!("no image in the report: {:.300}", o.stdout))?;
        f(img)
    })
}

/// Exit `code`; `f` checks the raw stdout (text reports).
fn text(code: i32, f: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) -> Check {
    Box::new(move |o: &Outcome, _: &Path| {
        if o.code != code {
            return Err(format!(
                "exit {} (want {code}); stderr: {}",
                o.code,
                o.stderr.trim()
            ));
        }
        f(&o.stdout)
    })
}

fn findings_summary(r: &Value) -> String {
    let mut v = Vec::new();
    for img in r["images"].as_array().into_iter().flatten() {
        for f in img["findings"].as_array().into_iter().flatten() {
            v.push(format!(
                "{} L{} {} {}",
                f["rule"].as_str().unwrap_or("?"),
                f["layer"],
                f["path"]
                    .as_str()
                    .or(f["config_field"].as_str())
                    .unwrap_or("-"),
                f["state"].as_str().unwrap_or("-")
            ));
        }
    }
    format!("[{}]", v.join(", "))
}

fn findings(img: &Value) -> Vec<&Value> {
    img["findings"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The finding of `rule` at `path`, if any.
fn finding<'a>(img: &'a Value, rule: &str, path: &str) -> Option<&'a Value> {
    img["findings"]
        .as_array()?
        .iter()
        .find(|f| f["rule"] == rule && f["path"] == path)
}

fn want_finding(img: &Value, rule: &str, path: &str, state: &str) -> Result<(), String> {
    match finding(img, rule, path) {
        Some(f) if f["state"] == state => Ok(()),
        Some(f) => Err(format!("{rule} at {path} is {} (want {state})", f["state"])),
        None => Err(format!(
            "no {rule} finding at {path}; findings: {}",
            findings_summary(&json!({"images": [img]}))
        )),
    }
}

fn policy_status(img: &Value, check: &str) -> String {
    img["policy"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["check"] == check))
        .map(|p| p["status"].as_str().unwrap_or("?").to_string())
        .unwrap_or_else(|| "absent".into())
}

fn policy_message(img: &Value, check: &str) -> String {
    img["policy"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["check"] == check))
        .map(|p| format!("{} {}", p["message"], p["details"]))
        .unwrap_or_default()
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

// ---------------------------------------------------------------------------
// Byte-level builders (the common fixture writes well-formed images only)
// ---------------------------------------------------------------------------

/// A header block with `size` (the caller writes the data).
fn raw_header(name: &[u8], typeflag: u8, size: u64, linkname: &[u8], gnu: bool) -> [u8; BLOCK] {
    let mut h = header_block(name, 0o644, 0, typeflag, linkname, gnu);
    octal(&mut h[124..136], size);
    set_checksum(&mut h);
    h
}

/// An old-GNU sparse member (typeflag `S`): `chunks` are (offset, data) in
/// the file of `real_size` bytes; holes read as zeros.
fn gnu_sparse(name: &str, chunks: &[(u64, &[u8])], real_size: u64) -> Vec<u8> {
    assert!(chunks.len() <= 4);
    let stored: u64 = chunks.iter().map(|(_, d)| d.len() as u64).sum();
    let mut h = raw_header(name.as_bytes(), b'S', stored, b"", true);
    for (i, (off, d)) in chunks.iter().enumerate() {
        let at = 386 + i * 24;
        octal(&mut h[at..at + 12], *off);
        octal(&mut h[at + 12..at + 24], d.len() as u64);
    }
    h[482] = 0; // not extended
    octal(&mut h[483..495], real_size);
    set_checksum(&mut h);
    let mut out = h.to_vec();
    for (_, d) in chunks {
        out.extend_from_slice(d);
    }
    pad(&mut out);
    out
}

/// A PAX 1.0 sparse member as GNU tar `--sparse --format=pax` writes it: the
/// real name in `GNU.sparse.name`, a `GNUSparseFile.0/` header name, the
/// sparse map as the first block of data.
fn pax_sparse(name: &str, chunks: &[(u64, &[u8])], real_size: u64) -> Vec<u8> {
    let mut recs = Vec::new();
    recs.extend(pax_record("GNU.sparse.major", b"1"));
    recs.extend(pax_record("GNU.sparse.minor", b"0"));
    recs.extend(pax_record("GNU.sparse.name", name.as_bytes()));
    recs.extend(pax_record(
        "GNU.sparse.realsize",
        real_size.to_string().as_bytes(),
    ));
    let mut out = raw_header(b"PaxHeaders.0/key", b'x', recs.len() as u64, b"", false).to_vec();
    out.extend(&recs);
    pad(&mut out);
    let mut data = format!("{}\n", chunks.len()).into_bytes();
    for (off, d) in chunks {
        data.extend(format!("{off}\n{}\n", d.len()).into_bytes());
    }
    pad(&mut data);
    for (_, d) in chunks {
        data.extend_from_slice(d);
    }
    let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
    let fake = format!("{dir}/GNUSparseFile.0/{base}");
    out.extend(raw_header(
        fake.trim_start_matches('/').as_bytes(),
        b'0',
        data.len() as u64,
        b"",
        false,
    ));
    out.extend(&data);
    pad(&mut out);
    out
}

/// A tar stream from raw members plus the end-of-archive blocks.
fn tar_of(members: &[Vec<u8>]) -> Vec<u8> {
    let mut v: Vec<u8> = members.concat();
    v.extend_from_slice(&[0u8; 2 * BLOCK]);
    v
}

/// One member written with the fixture's writer.
fn member(f: impl FnOnce(&mut TarWriter)) -> Vec<u8> {
    let mut w = TarWriter::new(LongNames::Gnu);
    f(&mut w);
    w.finish(false)
}

/// A stored layer blob.
#[derive(Clone)]
struct Blob {
    bytes: Vec<u8>,
    media_type: String,
    diff_id: String,
}

fn blob(tar: &[u8], c: Compression) -> Blob {
    Blob {
        bytes: compress(tar, c),
        media_type: layer_media_type(MediaFamily::Oci, c).to_string(),
        diff_id: digest_of(tar),
    }
}

fn layer_blob(entries: Vec<Entry>, c: Compression) -> Blob {
    blob(&layer_tar(&Layer::new(entries)), c)
}

/// The image config for `blobs` (one history entry each) with `img`'s settings.
fn config_for(img: &Image, blobs: &[Blob]) -> Value {
    let mut img = img.clone();
    img.layers = blobs.iter().map(|_| Layer::new(vec![])).collect();
    let ids: Vec<String> = blobs.iter().map(|b| b.diff_id.clone()).collect();
    config_value(&img, &ids)
}

fn manifest_for(config: &[u8], blobs: &[Blob]) -> Vec<u8> {
    let layers: Vec<Value> = blobs
        .iter()
        .map(|b| json!({"mediaType": b.media_type, "digest": digest_of(&b.bytes), "size": b.bytes.len()}))
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": layers,
    }))
    .unwrap()
}

/// An OCI layout directory `dir/<name>` holding one image made of `blobs`.
fn oci_raw(dir: &Path, name: &str, img: &Image, blobs: &[Blob]) -> PathBuf {
    let config = serde_json::to_vec(&config_for(img, blobs)).unwrap();
    oci_raw_config(dir, name, &config, blobs)
}

fn oci_raw_config(dir: &Path, name: &str, config: &[u8], blobs: &[Blob]) -> PathBuf {
    let mut layout = Layout::default();
    for b in blobs {
        layout.add_blob(&b.bytes);
    }
    layout.add_blob(config);
    let manifest = manifest_for(config, blobs);
    layout.add_blob(&manifest);
    layout.index_json = index_json(vec![descriptor(OCI_MANIFEST, &manifest)]);
    let out = dir.join(name);
    layout.write_dir(&out);
    out
}

/// A classic `docker save` tar (`<config hex>.json`, `l<i>/layer.tar`,
/// `manifest.json`); `tweak` edits the manifest.json entry.
fn docker_raw(
    dir: &Path,
    name: &str,
    img: &Image,
    blobs: &[Blob],
    tweak: impl FnOnce(&mut Value),
) -> PathBuf {
    let config = serde_json::to_vec(&config_for(img, blobs)).unwrap();
    docker_raw_config(dir, name, &config, blobs, tweak)
}

fn docker_raw_config(
    dir: &Path,
    name: &str,
    config: &[u8],
    blobs: &[Blob],
    tweak: impl FnOnce(&mut Value),
) -> PathBuf {
    let cfg_name = format!("{}.json", sha256_hex(config));
    let mut entries = vec![(cfg_name.clone(), OuterEntry::File(config.to_vec()))];
    let mut layers = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        let p = format!("l{i}/layer.tar");
        entries.push((p.clone(), OuterEntry::File(b.bytes.clone())));
        layers.push(p);
    }
    let mut m = json!([{"Config": cfg_name, "RepoTags": ["hostile:1"], "Layers": layers}]);
    tweak(&mut m);
    entries.push((
        "manifest.json".into(),
        OuterEntry::File(serde_json::to_vec(&m).unwrap()),
    ));
    let out = dir.join(name);
    std::fs::write(&out, write_outer_tar(entries)).unwrap();
    out
}

/// A plain image with one small layer: the base many cases tamper with.
fn small_layer() -> Blob {
    layer_blob(
        vec![Entry::file("app/hello.txt", "hello\n".repeat(300))],
        Compression::Gzip,
    )
}

fn key_layer(path: &str) -> Vec<Entry> {
    vec![Entry::file_mode(path, API_KEY_PEM, 0o600)]
}

/// A tar stream header for a file of `size` bytes named `name` (GNU magic).
fn file_header(name: &str, size: u64) -> Vec<u8> {
    raw_header(name.as_bytes(), b'0', size, b"", true).to_vec()
}

/// Streams a layer bomb: `head`, then `zeros` zero bytes, then `tail`, each
/// compressed on its own (zeros as one 8 MiB frame repeated), as `c`.
/// Returns the blob and the diff_id of the expanded stream.
fn bomb(head: &[u8], zeros: u64, tail: &[u8], c: Compression) -> Blob {
    const FRAME: u64 = 8 * MIB;
    assert_eq!(zeros % FRAME, 0);
    let zero_frame = vec![0u8; FRAME as usize];
    let frame = match c {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&zero_frame).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::bulk::compress(&zero_frame, 19).unwrap(),
        Compression::None => unreachable!(),
    };
    let mut bytes = compress(head, c);
    let mut sha = Sha256Stream::default();
    sha.update(head);
    for _ in 0..zeros / FRAME {
        bytes.extend_from_slice(&frame);
        sha.update(&zero_frame);
    }
    bytes.extend(compress(tail, c));
    sha.update(tail);
    Blob {
        bytes,
        media_type: layer_media_type(MediaFamily::Oci, c).to_string(),
        diff_id: sha.finish(),
    }
}

/// sha256 over a stream, via sha256sum(1) when there is a lot to hash (the
/// test's own sha2 runs unoptimised).
#[derive(Default)]
struct Sha256Stream {
    child: Option<std::process::Child>,
}

impl Sha256Stream {
    fn update(&mut self, data: &[u8]) {
        let child = self.child.get_or_insert_with(|| {
            Command::new("sha256sum")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("sha256sum (coreutils)")
        });
        child.stdin.as_mut().unwrap().write_all(data).unwrap();
    }
    fn finish(mut self) -> String {
        let mut child = self.child.take().expect("nothing hashed");
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        let s = String::from_utf8(out.stdout).unwrap();
        format!("sha256:{}", &s[..64])
    }
}

fn end_blocks() -> Vec<u8> {
    vec![0u8; 2 * BLOCK]
}

/// A chain of `depth` nested OCI indexes ending at one image manifest.
fn nested_indexes(dir: &Path, name: &str, depth: usize) -> PathBuf {
    let b = small_layer();
    let img = Image::new();
    let config = serde_json::to_vec(&config_for(&img, std::slice::from_ref(&b))).unwrap();
    let manifest = manifest_for(&config, std::slice::from_ref(&b));
    let mut layout = Layout::default();
    layout.add_blob(&b.bytes);
    layout.add_blob(&config);
    layout.add_blob(&manifest);
    let mut desc = descriptor(OCI_MANIFEST, &manifest);
    for _ in 0..depth {
        let idx = index_json(vec![desc]);
        layout.add_blob(&idx);
        desc = descriptor(OCI_INDEX, &idx);
    }
    layout.index_json = index_json(vec![desc]);
    let out = dir.join(name);
    layout.write_dir(&out);
    out
}

/// A JSON array nested `depth` deep.
fn deep_json(depth: usize) -> Vec<u8> {
    let mut v = vec![b'['; depth];
    v.extend(vec![b']'; depth]);
    v
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

fn cases() -> Vec<Case> {
    let mut c: Vec<Case> = Vec::new();

    // --- decompression bombs -------------------------------------------------
    for (name, comp) in [
        (
            "gzip layer bomb, no limit yet: read whole, size reported",
            Compression::Gzip,
        ),
        (
            "zstd layer bomb, no limit yet: read whole, size reported",
            Compression::Zstd,
        ),
    ] {
        c.push(case(
            name,
            &["--no-policy"],
            move |d| {
                let n = bomb_bytes();
                let b = bomb(&file_header("zeros.bin", n), n, &end_blocks(), comp);
                eprintln!(
                    "  [{name}: {} byte blob expands to {} bytes]",
                    b.bytes.len(),
                    n + 3 * BLOCK as u64
                );
                oci_raw(d, "bomb", &Image::new(), &[b])
            },
            verdict(0, |img| {
                let want = bomb_bytes() + 3 * BLOCK as u64;
                ensure(img["layers"][0]["size"] == want, || {
                    format!("layer size {} (want {want})", img["layers"][0]["size"])
                })
            }),
        ));
    }
    c.push(case(
        "zstd frame declaring a 1 GiB window: refused by the decoder, bounded memory",
        &["--no-policy"],
        |d| {
            let tar = layer_tar(&Layer::new(vec![Entry::file("a", "x".repeat(4000))]));
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            e.window_log(30).unwrap();
            e.long_distance_matching(true).unwrap();
            e.write_all(&tar).unwrap();
            let bytes = e.finish().unwrap();
            let b = Blob {
                bytes,
                media_type: OCI_LAYER_ZSTD.into(),
                diff_id: digest_of(&tar),
            };
            oci_raw(d, "window", &Image::new(), &[b])
        },
        error(&["layer", "blobs/sha256/"]),
    ));
    c.push(case(
        "GNU long-name header bomb: the name is read whole into memory",
        &["--no-policy"],
        |d| {
            let n = LONG_NAME_BOMB;
            let mut head = raw_header(b"././@LongLink", b'L', n, b"", true).to_vec();
            // The name is n zero bytes: one giant path (of NULs) once read.
            head.truncate(BLOCK);
            let tail = [file_header("after", 0), end_blocks()].concat();
            let b = bomb(&head, n, &tail, Compression::Zstd);
            oci_raw(d, "longname-bomb", &Image::new(), &[b])
        },
        Box::new(|o: &Outcome, _: &Path| {
            ensure(o.code == 0 || o.code == 2, || {
                format!("exit {}: {}", o.code, o.stderr)
            })
        }),
    ));
    c.push(case(
        "PAX extended-header bomb: the records are read whole into memory",
        &["--no-policy"],
        |d| {
            let n = PAX_BOMB;
            let head = raw_header(b"PaxHeaders.0/x", b'x', n, b"", false).to_vec();
            let tail = [file_header("after", 0), end_blocks()].concat();
            let b = bomb(&head, n, &tail, Compression::Zstd);
            oci_raw(d, "pax-bomb", &Image::new(), &[b])
        },
        Box::new(|o: &Outcome, _: &Path| {
            ensure(o.code == 0 || o.code == 2, || {
                format!("exit {}: {}", o.code, o.stderr)
            })
        }),
    ));
    c.push(case(
        "100k empty files in one layer, no entry limit yet: all indexed",
        &["--no-policy"],
        |d| {
            let mut w = TarWriter::new(LongNames::Gnu);
            for i in 0..100_000 {
                w.file(&format!("d{}/f{i}", i % 100), b"", 0o644);
            }
            let tar = w.finish(true);
            oci_raw(d, "many", &Image::new(), &[blob(&tar, Compression::Zstd)])
        },
        verdict(0, |img| {
            ensure(img["layers"][0]["files"] == 100_000, || {
                format!("files {} (want 100000)", img["layers"][0]["files"])
            })
        }),
    ));

    // --- names: ../, absolute, long, control characters -----------------------
    c.push(case(
        "whiteout named through ../ still hides the file it names",
        &["--no-policy"],
        |d| {
            let l0 = layer_blob(key_layer("app/key.pem"), Compression::None);
            let l1 = blob(
                &tar_of(&[member(|w| w.file("../../app/.wh.key.pem", b"", 0))]),
                Compression::None,
            );
            oci_raw(d, "wh-dotdot", &Image::new(), &[l0, l1])
        },
        verdict(1, |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "deleted")
        }),
    ));
    c.push(case(
        "manifest.json config named ../../../etc/hostname stays inside the archive",
        &[],
        |d| {
            docker_raw(d, "cfg-escape.tar", &Image::new(), &[small_layer()], |m| {
                m[0]["Config"] = json!("../../../../../../etc/hostname");
            })
        },
        error(&["etc/hostname", "not in the archive"]),
    ));
    c.push(case(
        "manifest.json layer named /etc/passwd stays inside the archive",
        &[],
        |d| {
            docker_raw(d, "layer-abs.tar", &Image::new(), &[small_layer()], |m| {
                m[0]["Layers"] = json!(["/etc/passwd"]);
            })
        },
        error(&["/etc/passwd", "not in the archive"]),
    ));
    c.push(case(
        "layer member symlinked out of the archive (/etc/passwd) is not followed",
        &[],
        |d| {
            let b = small_layer();
            let img = Image::new();
            let config = serde_json::to_vec(&config_for(&img, std::slice::from_ref(&b))).unwrap();
            let cfg = format!("{}.json", sha256_hex(&config));
            let m = json!([{"Config": cfg, "RepoTags": ["x:1"], "Layers": ["l0/layer.tar"]}]);
            let out = d.join("member-symlink-out.tar");
            std::fs::write(
                &out,
                write_outer_tar(vec![
                    (cfg, OuterEntry::File(config)),
                    (
                        "l0/layer.tar".into(),
                        OuterEntry::Symlink("/etc/passwd".into()),
                    ),
                    (
                        "manifest.json".into(),
                        OuterEntry::File(serde_json::to_vec(&m).unwrap()),
                    ),
                ]),
            )
            .unwrap();
            out
        },
        error(&["l0/layer.tar", "not in the archive"]),
    ));
    c.push(case(
        "layer members in a symlink loop: an error, no hang",
        &[],
        |d| {
            let b = small_layer();
            let config =
                serde_json::to_vec(&config_for(&Image::new(), std::slice::from_ref(&b))).unwrap();
            let cfg = format!("{}.json", sha256_hex(&config));
            let m = json!([{"Config": cfg, "RepoTags": ["x:1"], "Layers": ["a/layer.tar"]}]);
            let out = d.join("member-loop.tar");
            std::fs::write(
                &out,
                write_outer_tar(vec![
                    (cfg, OuterEntry::File(config)),
                    (
                        "a/layer.tar".into(),
                        OuterEntry::Symlink("../b/layer.tar".into()),
                    ),
                    (
                        "b/layer.tar".into(),
                        OuterEntry::Symlink("../a/layer.tar".into()),
                    ),
                    (
                        "manifest.json".into(),
                        OuterEntry::File(serde_json::to_vec(&m).unwrap()),
                    ),
                ]),
            )
            .unwrap();
            out
        },
        error(&["a/layer.tar", "not in the archive"]),
    ));
    for (name, pax) in [
        (
            "GNU long name over 4096 bytes: refused by the default --max-path-length",
            false,
        ),
        (
            "PAX long name over 4096 bytes: refused by the default --max-path-length",
            true,
        ),
    ] {
        c.push(case(
            name,
            &["--no-policy"],
            move |d| {
                let long = format!("{}/key.pem", vec!["d".repeat(250); 20].join("/"));
                let l = Layer::new(key_layer(&long)).with_pax(pax);
                oci_raw(
                    d,
                    "long",
                    &Image::new(),
                    &[blob(&layer_tar(&l), Compression::Gzip)],
                )
            },
            error(&["bytes long, over 4096 (--max-path-length)"]),
        ));
    }
    for (name, pax) in [
        (
            "GNU long name over 4096 bytes, limit raised: key found at the full path",
            false,
        ),
        (
            "PAX long name over 4096 bytes, limit raised: key found at the full path",
            true,
        ),
    ] {
        c.push(case(
            name,
            &["--no-policy", "--max-path-length", "8192"],
            move |d| {
                let long = format!("{}/key.pem", vec!["d".repeat(250); 20].join("/"));
                let l = Layer::new(key_layer(&long)).with_pax(pax);
                oci_raw(
                    d,
                    "long",
                    &Image::new(),
                    &[blob(&layer_tar(&l), Compression::Gzip)],
                )
            },
            verdict(1, |img| {
                let long = format!("/{}/key.pem", vec!["d".repeat(250); 20].join("/"));
                want_finding(img, "pem-private-key", &long, "present")
            }),
        ));
    }
    c.push(case(
        "path with ESC and a newline: the text report escapes them",
        &["--format", "text", "--no-policy"],
        |d| {
            let evil = "app/x\u{1b}[2J\nCRITICAL forged line.pem";
            let img = Image::new()
                .with_tag("ctl:1")
                .with_layer(Layer::new(key_layer(evil)));
            let out = d.join("ctl-path.tar");
            write_docker_classic(&[img], &out);
            out
        },
        text(1, |out| {
            ensure(!out.contains('\u{1b}'), || {
                "a raw ESC from a file name reached the terminal".into()
            })?;
            ensure(
                !out.lines().any(|l| l.starts_with("CRITICAL forged")),
                || "a file name's newline forged a report line".into(),
            )
        }),
    ));
    c.push(case(
        "tag with ESC: the text report escapes it",
        &["--format", "text", "--no-policy"],
        |d| {
            let img = Image::new()
                .with_tag("evil\u{1b}]0;pwned\u{7}\u{1b}[31m:latest")
                .with_layer(Layer::new(vec![Entry::file("a", "b")]));
            let out = d.join("ctl-tag.tar");
            write_docker_classic(&[img], &out);
            out
        },
        text(0, |out| {
            ensure(!out.contains('\u{1b}'), || {
                "a raw ESC from RepoTags reached the terminal".into()
            })
        }),
    ));
    c.push(case(
        "tar header with a newline and ESC in its name and a broken checksum: the error stays one line",
        &[],
        |d| {
            let mut h = raw_header(b"x\n\x1b[2Jstowaway: all clear", b'0', 0, b"", true);
            h[148..156].copy_from_slice(b"zz\x1bzz\n\0 ");
            oci_raw(d, "ctl-error", &Image::new(), &[blob(&tar_of(&[h.to_vec()]), Compression::None)])
        },
        Box::new(|o: &Outcome, src: &Path| {
            error(&["layer"])(o, src)?;
            ensure(!o.stderr.contains('\u{1b}'), || format!("raw ESC in the error: {:?}", o.stderr))
        }),
    ));
    c.push(case(
        "non-UTF-8 file name: key still found (name shown lossily)",
        &["--no-policy"],
        |d| {
            let mut h = raw_header(
                b"app/k\xff\xfe.pem",
                b'0',
                API_KEY_PEM.len() as u64,
                b"",
                true,
            )
            .to_vec();
            h.extend(API_KEY_PEM.as_bytes());
            pad(&mut h);
            oci_raw(
                d,
                "nonutf8",
                &Image::new(),
                &[blob(&tar_of(&[h]), Compression::None)],
            )
        },
        verdict(1, |img| {
            ensure(
                findings(img).iter().any(|f| {
                    f["rule"] == "pem-private-key"
                        && f["path"].as_str().is_some_and(|p| p.starts_with("/app/k"))
                }),
                || format!("findings: {}", findings_summary(&json!({"images": [img]}))),
            )
        }),
    ));

    // --- links --------------------------------------------------------------------
    let ep_image = |entries: Vec<Entry>, ep: &'static str| {
        move |d: &Path| {
            let img = Image::new()
                .with_layer(Layer::new(entries.clone()))
                .with_entrypoint(&[ep]);
            let out = d.join("links.tar");
            write_docker_classic(&[img], &out);
            out
        }
    };
    let ep_fails = |what: &'static str| {
        verdict(1, move |img| {
            let st = policy_status(img, "entrypoint-runnable");
            let msg = policy_message(img, "entrypoint-runnable");
            ensure(st == "fail" && msg.contains(what), || {
                format!("entrypoint-runnable {st}: {msg} (want fail saying {what:?})")
            })
        })
    };
    c.push(case(
        "entrypoint symlinked to itself: fails, no hang",
        &[],
        ep_image(
            vec![Entry::symlink("app/server", "/app/server")],
            "/app/server",
        ),
        // The message says "not in the image"; "too many levels of symbolic
        // links" (what resolve() knows) would be clearer.
        ep_fails("/app/server"),
    ));
    c.push(case(
        "entrypoint through a directory symlink to itself (/a -> /a/a): fails, no hang",
        &[],
        ep_image(
            vec![
                Entry::symlink("a", "/a/a"),
                Entry::exec("server", STATIC_ELF),
            ],
            "/a/server",
        ),
        ep_fails("/a/server"),
    ));
    c.push(case(
        "entrypoint through /app -> / resolves inside the image",
        &[
            "--skip-check",
            "only-allowed-files",
            "--skip-check",
            "ca-certificates",
        ],
        ep_image(
            vec![
                Entry::symlink("app", "/"),
                Entry::exec("server", STATIC_ELF),
            ],
            "/app/app/app/server",
        ),
        verdict(0, |img| {
            let st = policy_status(img, "entrypoint-runnable");
            ensure(st == "pass", || {
                format!(
                    "entrypoint-runnable {st}: {}",
                    policy_message(img, "entrypoint-runnable")
                )
            })
        }),
    ));
    c.push(case(
        "entrypoint hard-linked to a missing file: fails, no crash",
        &[],
        ep_image(
            vec![Entry::hardlink("app/server", "nothing/here")],
            "/app/server",
        ),
        ep_fails("/app/server"),
    ));
    c.push(case(
        "entrypoint in a hard-link loop: fails, no hang",
        &[],
        ep_image(
            vec![
                Entry::hardlink("app/a", "app/b"),
                Entry::hardlink("app/b", "app/a"),
            ],
            "/app/a",
        ),
        ep_fails("/app/a"),
    ));
    c.push(case(
        "CA bundle symlinked out of the image (../../../..) is not read from the host",
        &[],
        |d| {
            let img = Image::new()
                .with_layer(Layer::new(vec![
                    Entry::symlink(
                        "etc/ssl/cert.pem",
                        "../../../../../../../../etc/ssl/certs/ca-certificates.crt",
                    ),
                    Entry::exec("server", STATIC_ELF),
                ]))
                .with_entrypoint(&["/server"]);
            let out = d.join("ca-escape.tar");
            write_docker_classic(&[img], &out);
            out
        },
        verdict(1, |img| {
            let st = policy_status(img, "ca-certificates");
            ensure(st == "fail", || {
                format!(
                    "ca-certificates {st}: {}",
                    policy_message(img, "ca-certificates")
                )
            })
        }),
    ));
    c.push(case(
        "key hard-linked elsewhere, then the original rm'd: the key is still present",
        &["--no-policy"],
        |d| {
            let l0 = layer_blob(
                vec![
                    Entry::file_mode("app/key.pem", API_KEY_PEM, 0o600),
                    Entry::hardlink("pub/k", "app/key.pem"),
                ],
                Compression::None,
            );
            let l1 = layer_blob(vec![Entry::whiteout("app/key.pem")], Compression::None);
            oci_raw(d, "hardlink-survives", &Image::new(), &[l0, l1])
        },
        verdict(1, |img| {
            ensure(
                findings(img)
                    .iter()
                    .any(|f| f["rule"] == "pem-private-key" && f["state"] == "present"),
                || {
                    format!(
                        "/pub/k still holds the key after the whiteout, but no pem-private-key \
                         finding is present: {}",
                        findings_summary(&json!({"images": [img]}))
                    )
                },
            )
        }),
    ));

    // --- sparse and duplicate entries -----------------------------------------
    c.push(case(
        "old GNU sparse file (typeflag S) holding a key: scanned",
        &["--no-policy"],
        |d| {
            let off = 64 * 1024;
            let tar = tar_of(&[gnu_sparse(
                "app/key.pem",
                &[(off, API_KEY_PEM.as_bytes())],
                off + API_KEY_PEM.len() as u64,
            )]);
            oci_raw(
                d,
                "gnu-sparse",
                &Image::new(),
                &[blob(&tar, Compression::None)],
            )
        },
        verdict(1, |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "present")
        }),
    ));
    c.push(case(
        "PAX 1.0 sparse file holding a key: found under its real name",
        &["--no-policy"],
        |d| {
            let off = 64 * 1024;
            let tar = tar_of(&[pax_sparse(
                "app/key.pem",
                &[(off, API_KEY_PEM.as_bytes())],
                off + API_KEY_PEM.len() as u64,
            )]);
            oci_raw(
                d,
                "pax-sparse",
                &Image::new(),
                &[blob(&tar, Compression::None)],
            )
        },
        verdict(1, |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "present")
        }),
    ));
    c.push(case(
        "sparse file of 1 TiB (two 512-byte chunks): bounded time",
        &["--no-policy"],
        |d| {
            let tib = 1u64 << 40;
            let a = [b'a'; BLOCK];
            let tar = tar_of(&[gnu_sparse(
                "big.img",
                &[(0, &a), (tib - BLOCK as u64, &a)],
                tib,
            )]);
            oci_raw(
                d,
                "sparse-tib",
                &Image::new(),
                &[blob(&tar, Compression::None)],
            )
        },
        Box::new(|o: &Outcome, _: &Path| {
            ensure(o.code == 0, || {
                format!("exit {}: {}", o.code, o.stderr.trim())
            })
        }),
    ));
    c.push(case(
        "same path twice in one layer: the first copy is overwritten (last wins)",
        &["--no-policy"],
        |d| {
            let tar = tar_of(&[
                member(|w| w.file("app/key.pem", API_KEY_PEM.as_bytes(), 0o600)),
                member(|w| w.file("app/key.pem", b"rotated\n", 0o600)),
            ]);
            oci_raw(d, "dup", &Image::new(), &[blob(&tar, Compression::None)])
        },
        verdict(1, |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "overwritten")
        }),
    ));
    c.push(case(
        "same path twice in one layer, key last: present",
        &["--no-policy"],
        |d| {
            let tar = tar_of(&[
                member(|w| w.file("app/key.pem", b"placeholder\n", 0o600)),
                member(|w| w.file("app/key.pem", API_KEY_PEM.as_bytes(), 0o600)),
            ]);
            oci_raw(d, "dup2", &Image::new(), &[blob(&tar, Compression::None)])
        },
        verdict(1, |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "present")
        }),
    ));

    // --- truncated streams and trailing garbage ------------------------------
    // Blobs cut with digests and sizes that match the cut bytes: only the
    // decompressor / tar reader can tell.
    let cut = |c: Compression, keep: fn(usize) -> usize, name: &'static str| {
        move |d: &Path| {
            let tar = layer_tar(&Layer::new(vec![Entry::file(
                "app/a.bin",
                pseudo_random(64 * 1024),
            )]));
            let full = compress(&tar, c);
            let b = Blob {
                bytes: full[..keep(full.len())].to_vec(),
                media_type: layer_media_type(MediaFamily::Oci, c).into(),
                diff_id: digest_of(&tar),
            };
            oci_raw(d, name, &Image::new(), &[b])
        }
    };
    c.push(case(
        "gzip layer cut in the middle (digest of the cut bytes)",
        &[],
        cut(Compression::Gzip, |n| n / 2, "gz-cut"),
        error(&["layer"]),
    ));
    c.push(case(
        "zstd layer cut in the middle (digest of the cut bytes)",
        &[],
        cut(Compression::Zstd, |n| n / 2, "zst-cut"),
        error(&["layer"]),
    ));
    c.push(case(
        "plain layer tar cut mid-header",
        &[],
        cut(Compression::None, |_| BLOCK + 100, "tar-cut-header"),
        error(&["layer"]),
    ));
    c.push(case(
        "plain layer tar cut mid-data",
        &[],
        cut(Compression::None, |_| BLOCK + 4000, "tar-cut-data"),
        error(&["layer"]),
    ));
    c.push(case(
        "image archive cut mid-header",
        &[],
        |d| {
            let p = d.join("cut.tar");
            write_docker_classic(
                &[Image::new().with_layer(Layer::new(vec![Entry::file("a", "b")]))],
                &p,
            );
            let b = std::fs::read(&p).unwrap();
            // Cut inside the manifest.json header (the last member before the end blocks).
            let last = tar_members(&b)
                .iter()
                .map(|m| m.header_offset)
                .max()
                .unwrap();
            std::fs::write(&p, &b[..last + 200]).unwrap();
            p
        },
        error(&[]),
    ));
    c.push(case(
        "image archive cut inside a layer member (indexed by seeking)",
        &[],
        |d| {
            let p = d.join("cut-member.tar");
            write_docker_classic(
                &[Image::new().with_layer(Layer::new(vec![Entry::file(
                    "app/a.bin",
                    pseudo_random(64 * 1024),
                )]))],
                &p,
            );
            let b = std::fs::read(&p).unwrap();
            let layer = tar_members(&b).into_iter().max_by_key(|m| m.size).unwrap();
            std::fs::write(&p, &b[..layer.header_offset + BLOCK + 1000]).unwrap();
            p
        },
        error(&["truncated"]),
    ));
    c.push(case(
        "gzip-wrapped image archive cut in the middle",
        &[],
        |d| {
            let p = d.join("img.tar");
            write_docker_classic(&[leaky_image()], &p);
            let gz = gzip_file(&p);
            let b = std::fs::read(&gz).unwrap();
            std::fs::write(&gz, &b[..b.len() / 2]).unwrap();
            gz
        },
        error(&[]),
    ));
    c.push(case(
        "trailing garbage after a zstd layer (digest covers it)",
        &[],
        |d| {
            let tar = layer_tar(&Layer::new(vec![Entry::file("a", "x".repeat(5000))]));
            let mut bytes = compress(&tar, Compression::Zstd);
            bytes.extend_from_slice(b"GARBAGE!GARBAGE!");
            let b = Blob {
                bytes,
                media_type: OCI_LAYER_ZSTD.into(),
                diff_id: digest_of(&tar),
            };
            oci_raw(d, "zst-trailing", &Image::new(), &[b])
        },
        error(&["layer"]),
    ));
    c.push(case(
        "trailing garbage after a gzip layer in an OCI layout (digest covers it)",
        &[],
        |d| {
            let tar = layer_tar(&Layer::new(vec![Entry::file("a", "x".repeat(5000))]));
            let mut bytes = compress(&tar, Compression::Gzip);
            bytes.extend_from_slice(b"GARBAGE!GARBAGE!");
            let b = Blob {
                bytes,
                media_type: OCI_LAYER_GZIP.into(),
                diff_id: digest_of(&tar),
            };
            oci_raw(d, "gz-trailing", &Image::new(), &[b])
        },
        error(&["layer"]),
    ));
    c.push(case(
        "garbage after a plain layer's end blocks: covered by the digests, audited",
        &["--no-policy"],
        |d| {
            let mut tar = layer_tar(&Layer::new(key_layer("app/key.pem")));
            tar.extend_from_slice(b"GARBAGE AFTER THE END OF THE ARCHIVE");
            oci_raw(
                d,
                "tar-trailing",
                &Image::new(),
                &[blob(&tar, Compression::None)],
            )
        },
        verdict(1, |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "present")
        }),
    ));
    c.push(case(
        "layer blob that is not a tar (random bytes)",
        &[],
        |d| {
            let junk = pseudo_random(3000);
            oci_raw(d, "junk", &Image::new(), &[blob(&junk, Compression::None)])
        },
        error(&["layer"]),
    ));
    c.push(case(
        "tar header with a bad checksum",
        &[],
        |d| {
            let mut tar = layer_tar(&Layer::new(vec![Entry::file("a", "b")]));
            tar[0] ^= 0x01; // name byte: checksum no longer matches
            oci_raw(d, "badsum", &Image::new(), &[blob(&tar, Compression::None)])
        },
        error(&["layer"]),
    ));
    c.push(case(
        "tar header claiming an 8 GiB file in a 1.5 KiB blob",
        &[],
        |d| {
            let mut tar = file_header("huge", (8 << 30) - 1);
            tar.extend(vec![b'x'; 1024]);
            oci_raw(
                d,
                "huge-claim",
                &Image::new(),
                &[blob(&tar, Compression::None)],
            )
        },
        error(&["layer"]),
    ));
    c.push(case(
        "empty (0-byte) layer blob: an empty layer",
        &["--no-policy"],
        |d| oci_raw(d, "empty", &Image::new(), &[blob(b"", Compression::None)]),
        verdict(0, |img| {
            ensure(img["layers"][0]["size"] == 0, || {
                format!("{}", img["layers"][0])
            })
        }),
    ));

    // --- digests, missing blobs, diff_ids -------------------------------------
    c.push(case(
        "manifest in index.json whose content does not match its digest",
        &[],
        |d| {
            let p = oci_raw(d, "man-digest", &Image::new(), &[small_layer()]);
            let idx: Value =
                serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap();
            let dg = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
            corrupt_blob(&p, &dg);
            p
        },
        error(&["digest mismatch"]),
    ));
    c.push(case(
        "manifest descriptor with the wrong size",
        &[],
        |d| {
            let p = oci_raw(d, "man-size", &Image::new(), &[small_layer()]);
            let mut idx: Value =
                serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap();
            idx["manifests"][0]["size"] = json!(3);
            std::fs::write(p.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
            p
        },
        error(&["its descriptor says 3"]),
    ));
    c.push(case(
        "nested index whose content does not match its digest",
        &[],
        |d| {
            let p = nested_indexes(d, "nested-digest", 2);
            let idx: Value =
                serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap();
            corrupt_blob(&p, idx["manifests"][0]["digest"].as_str().unwrap());
            p
        },
        error(&["digest mismatch"]),
    ));
    c.push(case(
        "index.json pointing at a missing manifest",
        &[],
        |d| {
            let p = oci_raw(d, "man-missing", &Image::new(), &[small_layer()]);
            let idx: Value =
                serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap();
            std::fs::remove_file(blob_path(
                &p,
                idx["manifests"][0]["digest"].as_str().unwrap(),
            ))
            .unwrap();
            p
        },
        error(&["missing blob"]),
    ));
    c.push(case(
        "digest with a path in it (sha256:../../etc/passwd)",
        &[],
        |d| {
            let p = oci_raw(d, "digest-path", &Image::new(), &[small_layer()]);
            std::fs::write(
                p.join("index.json"),
                index_json(vec![json!({"mediaType": OCI_MANIFEST, "digest": "sha256:../../../../etc/passwd", "size": 10})]),
            )
            .unwrap();
            p
        },
        error(&["malformed digest"]),
    ));
    c.push(case(
        "digest with an unsupported algorithm (sha512)",
        &[],
        |d| {
            let p = oci_raw(d, "digest-algo", &Image::new(), &[small_layer()]);
            std::fs::write(
                p.join("index.json"),
                index_json(vec![json!({"mediaType": OCI_MANIFEST, "digest": format!("sha512:{}", "ab".repeat(64)), "size": 10})]),
            )
            .unwrap();
            p
        },
        error(&["unsupported digest algorithm"]),
    ));
    c.push(case(
        "Docker 25 archive with a layer blob that does not match its name",
        &[],
        |d| {
            let p = d.join("d25.tar");
            let w = write_docker25(
                &[Image::new()
                    .with_tag("x:1")
                    .with_layer(Layer::new(vec![Entry::file("a", "b".repeat(3000))]))],
                &p,
                false,
            );
            corrupt_member(&p, &w.images[0].layer_paths[0]);
            p
        },
        error(&["digest mismatch"]),
    ));
    c.push(case(
        "OCI config with fewer diff_ids than layers (digests consistent)",
        &[],
        |d| {
            let b = small_layer();
            let mut cfg = config_for(&Image::new(), std::slice::from_ref(&b));
            cfg["rootfs"]["diff_ids"] = json!([]);
            oci_raw_config(d, "few-diffids", &serde_json::to_vec(&cfg).unwrap(), &[b])
        },
        error(&["lists 1 layers but its config has 0 diff_ids"]),
    ));
    c.push(case(
        "docker archive config with more diff_ids than layers (name consistent)",
        &[],
        |d| {
            let b = small_layer();
            let mut cfg = config_for(&Image::new(), std::slice::from_ref(&b));
            cfg["rootfs"]["diff_ids"] = json!([b.diff_id.clone(), b.diff_id.clone()]);
            docker_raw_config(
                d,
                "more-diffids.tar",
                &serde_json::to_vec(&cfg).unwrap(),
                &[b],
                |_| {},
            )
        },
        error(&["lists 1 layers but its config has 2 diff_ids"]),
    ));
    c.push(case(
        "OCI layer whose content does not match its diff_id",
        &[],
        |d| {
            let mut b = small_layer();
            b.diff_id = digest_of(b"something else");
            oci_raw(d, "bad-diffid", &Image::new(), &[b])
        },
        error(&["diff_id mismatch"]),
    ));
    c.push(case(
        "docker archive layer whose content does not match its diff_id: audited, flagged",
        &["--no-policy"],
        |d| {
            let mut b = layer_blob(key_layer("app/key.pem"), Compression::None);
            b.diff_id = digest_of(b"what the build produced");
            docker_raw(d, "tampered.tar", &Image::new(), &[b], |_| {})
        },
        verdict(1, |img| {
            ensure(
                findings(img)
                    .iter()
                    .any(|f| f["rule"] == "integrity.diff-id-mismatch" && f["layer"] == 0),
                || {
                    format!(
                        "no integrity finding: {}",
                        findings_summary(&json!({"images": [img]}))
                    )
                },
            )?;
            want_finding(img, "pem-private-key", "/app/key.pem", "present")
        }),
    ));

    // --- media types that lie ----------------------------------------------
    let lying = |actual: Compression, claimed: &'static str| {
        move |d: &Path| {
            let mut b = layer_blob(key_layer("app/key.pem"), actual);
            b.media_type = claimed.into();
            oci_raw(d, "lying", &Image::new(), &[b])
        }
    };
    let noted = |claims: &'static str, is: &'static str| {
        verdict(1, move |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "present")?;
            let notes = img["notes"].to_string();
            ensure(
                notes.contains(&format!("says {claims}"))
                    && notes.contains(&format!("bytes are {is}")),
                || format!("notes do not say {claims} vs {is}: {notes}"),
            )
        })
    };
    c.push(case(
        "gzip declared, zstd inside: read, and noted",
        &["--no-policy"],
        lying(Compression::Zstd, OCI_LAYER_GZIP),
        noted("gzip", "zstd"),
    ));
    c.push(case(
        "zstd declared, plain tar inside: read, and noted",
        &["--no-policy"],
        lying(Compression::None, OCI_LAYER_ZSTD),
        noted("zstd", "none"),
    ));
    c.push(case(
        "Docker gzip type, plain tar inside (skopeo 1.9): read, and noted",
        &["--no-policy"],
        lying(Compression::None, DOCKER_LAYER_GZIP),
        noted("gzip", "none"),
    ));
    c.push(case(
        "unknown layer media type, gzip inside: read by magic",
        &["--no-policy"],
        lying(Compression::Gzip, "application/octet-stream"),
        verdict(1, |img| {
            want_finding(img, "pem-private-key", "/app/key.pem", "present")
        }),
    ));

    // --- indexes and JSON --------------------------------------------------
    c.push(case(
        "index.json with indexes nested 20 deep (limit 8)",
        &[],
        |d| nested_indexes(d, "nested20", 20),
        error(&["nested deeper than 8"]),
    ));
    c.push(case(
        "indexes nested 8 deep: read",
        &["--no-policy"],
        |d| nested_indexes(d, "nested8", 8),
        verdict(0, |_| Ok(())),
    ));
    c.push(case(
        "index listing one manifest 10000 times: one image",
        &["--no-policy"],
        |d| {
            let p = oci_raw(d, "wide", &Image::new(), &[small_layer()]);
            let idx: Value =
                serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap();
            let one = idx["manifests"][0].clone();
            std::fs::write(p.join("index.json"), index_json(vec![one; 10_000])).unwrap();
            p
        },
        Box::new(|o: &Outcome, _: &Path| {
            let r = o.report()?;
            let n = r["images"].as_array().map_or(0, Vec::len);
            ensure(o.code == 0 && n == 1, || {
                format!("exit {}, {n} images", o.code)
            })
        }),
    ));
    c.push(case(
        "manifest.json listing one image 1000 times, no image limit yet: 1000 reports",
        &["--no-policy"],
        |d| {
            docker_raw(d, "many-images.tar", &Image::new(), &[small_layer()], |m| {
                let one = m[0].clone();
                *m = Value::Array(vec![one; 1000]);
            })
        },
        Box::new(|o: &Outcome, _: &Path| {
            let r = o.report()?;
            let n = r["images"].as_array().map_or(0, Vec::len);
            ensure(o.code == 0 && n == 1000, || {
                format!("exit {}, {n} images", o.code)
            })
        }),
    ));
    c.push(case(
        "manifest.json of 100 MB (limit 64 MiB): refused",
        &[],
        |d| {
            let p = docker_raw(
                d,
                "huge-manifest.tar",
                &Image::new(),
                &[small_layer()],
                |_| {},
            );
            let m = read_member(&p, "manifest.json").unwrap();
            let mut big = m.clone();
            big.resize(100_000_000, b' ');
            replace_member(&p, "manifest.json", &big);
            p
        },
        error(&["manifest.json", "over the", "limit"]),
    ));
    c.push(case(
        "manifest.json of 100 MB inside a gzip-wrapped archive: refused",
        &[],
        |d| {
            let p = docker_raw(
                d,
                "huge-manifest-gz.tar",
                &Image::new(),
                &[small_layer()],
                |_| {},
            );
            let m = read_member(&p, "manifest.json").unwrap();
            let mut big = m.clone();
            big.resize(100_000_000, b' ');
            replace_member(&p, "manifest.json", &big);
            let gz = gzip_file(&p);
            std::fs::remove_file(&p).unwrap();
            gz
        },
        error(&["manifest.json", "over the", "limit"]),
    ));
    c.push(case(
        "index.json of 100 MB in a layout directory: refused",
        &[],
        |d| {
            let p = oci_raw(d, "huge-index", &Image::new(), &[small_layer()]);
            let mut idx = std::fs::read(p.join("index.json")).unwrap();
            idx.resize(100_000_000, b'\n');
            std::fs::write(p.join("index.json"), idx).unwrap();
            p
        },
        error(&["index.json", "over the", "limit"]),
    ));
    c.push(case(
        "manifest.json nested 100000 deep: a clear error, no stack overflow",
        &[],
        |d| {
            let p = docker_raw(
                d,
                "deep-manifest.tar",
                &Image::new(),
                &[small_layer()],
                |_| {},
            );
            replace_member(&p, "manifest.json", &deep_json(100_000));
            p
        },
        error(&["manifest.json", "malformed JSON"]),
    ));
    c.push(case(
        "index.json with an unknown field nested 100000 deep: skipped without recursion",
        &[],
        |d| {
            let p = oci_raw(d, "deep-index", &Image::new(), &[small_layer()]);
            // An unknown field: skipped, but still parsed (serde's IgnoredAny).
            let mut v = b"{\"manifests\":[],\"x-unknown\":".to_vec();
            v.extend(deep_json(100_000));
            v.push(b'}');
            std::fs::write(p.join("index.json"), v).unwrap();
            p
        },
        // serde_json skips unknown values iteratively: no recursion limit, no
        // stack overflow; the index is then simply empty.
        error(&["holds no image"]),
    ));
    c.push(case(
        "index.json with an array nested 100000 deep where a string belongs: a clear error",
        &[],
        |d| {
            let p = oci_raw(d, "deep-index2", &Image::new(), &[small_layer()]);
            let mut v = b"{\"manifests\":[{\"digest\":\"sha256:00\",\"platform\":{\"os\":".to_vec();
            v.extend(deep_json(100_000));
            v.extend(b"}}]}");
            std::fs::write(p.join("index.json"), v).unwrap();
            p
        },
        error(&["index.json", "malformed JSON"]),
    ));
    c.push(case(
        "config with a value nested 100000 deep (ExposedPorts): a clear error",
        &[],
        |d| {
            let b = small_layer();
            let cfg =
                serde_json::to_vec(&config_for(&Image::new(), std::slice::from_ref(&b))).unwrap();
            // Splice the deep value in as text (serde_json cannot build it).
            let s = String::from_utf8(cfg).unwrap();
            let deep = String::from_utf8(deep_json(100_000)).unwrap();
            let s = s.replacen(
                "\"config\":{}",
                &format!("\"config\":{{\"ExposedPorts\":{{\"8080/tcp\":{deep}}}}}"),
                1,
            );
            assert!(s.contains("ExposedPorts"));
            docker_raw_config(d, "deep-config.tar", s.as_bytes(), &[b], |_| {})
        },
        error(&["malformed JSON"]),
    ));
    c
}

/// Deterministic incompressible bytes.
fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn hostile_inputs() {
    let all = cases();
    let filter = std::env::var("STOWAWAY_HOSTILE_CASE").ok();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let workers = std::env::var("STOWAWAY_HOSTILE_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2usize);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = all.get(i) else { break };
                if filter.as_deref().is_some_and(|f| !c.name.contains(f)) {
                    continue;
                }
                let dir = tempfile::tempdir().unwrap();
                let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    (c.build)(dir.path())
                }));
                let Ok(src) = built else {
                    let line = format!(
                        "FAIL  the fixture for {:?} could not be built (see the panic above)",
                        c.name
                    );
                    eprintln!("{line}");
                    results.lock().unwrap().push((i, line));
                    continue;
                };
                let mut args: Vec<std::ffi::OsString> = vec![
                    "audit".into(),
                    src.clone().into_os_string(),
                    "--no-progress".into(),
                ];
                if !c.args.contains(&"--format") {
                    args.extend(["--format".into(), "json".into()]);
                }
                args.extend(c.args.iter().map(Into::into));
                let o = run_measured(&args);
                let mut problems = Vec::new();
                if o.killed {
                    problems.push(format!("hung: killed after {WATCHDOG:?}"));
                }
                if o.stderr.contains("panicked") || o.code == 101 {
                    problems.push(format!("panicked: {}", o.stderr.trim()));
                }
                if o.peak_rss > mem_bound() {
                    problems.push(format!(
                        "peak RSS {} MiB over the {} MiB bound",
                        o.peak_rss / MIB,
                        mem_bound() / MIB
                    ));
                }
                if problems.is_empty() {
                    if let Err(e) = (c.check)(&o, &src) {
                        problems.push(e);
                    }
                }
                let first_err = o.stderr.lines().next().unwrap_or("").to_string();
                let line = format!(
                    "{:<4} {:>7.2}s {:>5} MiB  exit {}  {}{}{}",
                    if problems.is_empty() { "ok" } else { "FAIL" },
                    o.elapsed.as_secs_f64(),
                    o.peak_rss / MIB,
                    o.code,
                    c.name,
                    if first_err.is_empty() || o.code != 2 {
                        String::new()
                    } else {
                        format!("\n{:>28}stderr: {first_err:.300}", "")
                    },
                    problems
                        .iter()
                        .map(|p| format!("\n{:>28}=> {p:.600}", ""))
                        .collect::<String>()
                );
                eprintln!("{line}");
                results.lock().unwrap().push((
                    i,
                    if problems.is_empty() {
                        String::new()
                    } else {
                        line
                    },
                ));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort();
    let failures: Vec<&String> = results
        .iter()
        .map(|(_, l)| l)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        results.len(),
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
