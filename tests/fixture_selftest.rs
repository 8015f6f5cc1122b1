//! Self-tests for the fixture builder in tests/common: everything is read back
//! with the `tar` crate (an independent reader), and digests are recomputed.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use common::*;
use serde_json::Value;

const LONG_DIR: &str =
    "opt/a-very-long-directory-name-that-keeps-going/and-another-long-nested-directory-name";
const LONG_FILE: &str = "deeply-nested-credentials-file-with-a-long-name.env";

fn long_path() -> String {
    format!("{LONG_DIR}/{LONG_FILE}")
}

/// Layer 1 adds files (incl. a secret, a symlink, a hardlink and a >100-byte path);
/// layer 2 deletes the secret with a whiteout and makes `cache` opaque;
/// layer 3 uses `./` names, PAX long names and no end-of-archive blocks.
fn three_layer_image(c1: Compression, c2: Compression) -> Image {
    assert!(long_path().len() > 100);
    let l1 = Layer::new(vec![
        Entry::file("app/config.yml", "db: postgres\n"),
        Entry::file_mode(
            "app/key.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n",
            0o600,
        ),
        Entry::symlink("app/current", "config.yml"),
        Entry::hardlink("app/config-link.yml", "app/config.yml"),
        Entry::dir_mode("cache", 0o700),
        Entry::file("cache/old.txt", "stale"),
        Entry::file(long_path(), "AWS_SECRET_ACCESS_KEY=abc\n"),
    ])
    .with_compression(c1)
    .with_created_by("COPY app/ /app/ # buildkit");
    let l2 = Layer::new(vec![
        Entry::whiteout("app/key.pem"),
        Entry::opaque("cache"),
        Entry::file("cache/new.txt", "fresh"),
    ])
    .with_compression(c2)
    .with_created_by("RUN rm /app/key.pem && rm -rf /cache/*");
    let l3 = Layer::new(vec![
        Entry::file("etc/motd", "hi\n"),
        Entry::file(format!("{LONG_DIR}/second-{LONG_FILE}"), "x"),
    ])
    .with_dot_slash(true)
    .with_pax(true)
    .with_end_blocks(false)
    .with_created_by("RUN echo hi > /etc/motd");
    Image::new()
        .with_layers(vec![l1, l2, l3])
        .with_env("PATH=/usr/local/bin:/usr/bin:/bin")
        .with_env("API_TOKEN=ghp_notreallyasecret")
        .with_label("maintainer", "fixtures@example.com")
        .with_cmd(&["/app/run", "--serve"])
        .with_entrypoint(&["/bin/sh", "-c"])
        .with_working_dir("/app")
        .with_user("1000:1000")
        .with_exposed_port("8080/tcp")
        .with_history(0, "ARG SECRET=hunter2")
        .with_history(2, "ENV MODE=prod")
        .with_tag("leaky:latest")
}

#[derive(Debug)]
struct Member {
    kind: tar::EntryType,
    link: Option<String>,
    data: Vec<u8>,
}

/// Read a tar with the `tar` crate: path (verbatim) -> member.
fn read_tar(bytes: &[u8]) -> BTreeMap<String, Member> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let kind = e.header().entry_type();
        let link = e
            .link_name_bytes()
            .map(|b| String::from_utf8(b.into_owned()).unwrap());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(path, Member { kind, link, data });
    }
    out
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid json")
}

/// Check a layer blob against its descriptor/diff_id and its tar content.
fn check_layer(blob: &[u8], digest: &str, diff_id: &str, index: usize) {
    assert_eq!(digest_of(blob), digest, "layer {index} digest");
    let tar = decompress(blob);
    assert_eq!(digest_of(&tar), diff_id, "layer {index} diff_id");
    let m = read_tar(&tar);
    match index {
        0 => {
            assert_eq!(m["app/"].kind, tar::EntryType::Directory);
            assert_eq!(m["app/config.yml"].data, b"db: postgres\n");
            assert_eq!(m["app/current"].kind, tar::EntryType::Symlink);
            assert_eq!(m["app/current"].link.as_deref(), Some("config.yml"));
            assert_eq!(m["app/config-link.yml"].kind, tar::EntryType::Link);
            assert_eq!(
                m["app/config-link.yml"].link.as_deref(),
                Some("app/config.yml")
            );
            assert_eq!(m["cache/"].kind, tar::EntryType::Directory);
            assert_eq!(m[long_path().as_str()].data, b"AWS_SECRET_ACCESS_KEY=abc\n");
        }
        1 => {
            assert_eq!(m["app/.wh.key.pem"].kind, tar::EntryType::Regular);
            assert!(m["app/.wh.key.pem"].data.is_empty());
            assert!(m.contains_key("cache/.wh..wh..opq"));
            assert_eq!(m["cache/new.txt"].data, b"fresh");
        }
        2 => {
            assert!(m.contains_key("./"));
            assert_eq!(m["./etc/motd"].data, b"hi\n");
            let long = format!("./{LONG_DIR}/second-{LONG_FILE}");
            assert_eq!(m[long.as_str()].data, b"x");
            assert!(!tar.ends_with(&[0u8; 1024]), "layer 3 has no end blocks");
        }
        _ => unreachable!(),
    }
}

fn check_config(cfg: &[u8], diff_ids: &[String]) {
    let c = json(cfg);
    assert_eq!(c["os"], "linux");
    assert_eq!(c["rootfs"]["type"], "layers");
    let ids: Vec<String> = c["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, diff_ids);
    let h = c["history"].as_array().unwrap();
    assert_eq!(h.len(), 5);
    assert_eq!(h[0]["created_by"], "ARG SECRET=hunter2");
    assert_eq!(h[0]["empty_layer"], true);
    assert_eq!(h[1]["created_by"], "COPY app/ /app/ # buildkit");
    assert_eq!(h[2]["created_by"], "ENV MODE=prod");
    assert_eq!(h[2]["empty_layer"], true);
    assert!(h[3].get("empty_layer").is_none());
    assert_eq!(
        h.iter().filter(|e| e.get("empty_layer").is_none()).count(),
        3
    );
    assert_eq!(c["config"]["Env"][1], "API_TOKEN=ghp_notreallyasecret");
    assert_eq!(
        c["config"]["ExposedPorts"]["8080/tcp"],
        serde_json::json!({})
    );
    assert_eq!(c["config"]["Labels"]["maintainer"], "fixtures@example.com");
    assert_eq!(c["config"]["User"], "1000:1000");
    assert_eq!(c["created"], CREATED);
}

/// Walk an OCI layout through `get(path)`: index.json -> (nested index ->) manifests.
/// Returns the number of image manifests checked.
fn check_oci(
    get: &dyn Fn(&str) -> Option<Vec<u8>>,
    written: &Written,
    family: MediaFamily,
) -> usize {
    assert_eq!(
        json(&get("oci-layout").unwrap())["imageLayoutVersion"],
        "1.0.0"
    );
    let index = json(&get("index.json").unwrap());
    assert_eq!(index["schemaVersion"], 2);
    let blob = |d: &Value| -> Vec<u8> {
        let digest = d["digest"].as_str().unwrap();
        let b = get(&format!("blobs/sha256/{}", hex_of(digest))).expect("blob present");
        assert_eq!(digest_of(&b), digest);
        assert_eq!(b.len() as u64, d["size"].as_u64().unwrap());
        b
    };
    let mut manifests = Vec::new();
    for d in index["manifests"].as_array().unwrap() {
        let mt = d["mediaType"].as_str().unwrap();
        if mt == index_media_type(family) {
            assert_eq!(
                Some(d["digest"].as_str().unwrap().to_string()),
                written.index
            );
            let nested = json(&blob(d));
            assert_eq!(nested["mediaType"], index_media_type(family));
            for m in nested["manifests"].as_array().unwrap() {
                assert!(m["platform"]["architecture"].is_string());
                manifests.push(m.clone());
            }
        } else {
            assert_eq!(mt, manifest_media_type(family));
            manifests.push(d.clone());
        }
    }
    for (i, d) in manifests.iter().enumerate() {
        let m = json(&blob(d));
        let w = &written.images[i];
        assert_eq!(d["digest"].as_str(), w.manifest.as_deref());
        assert_eq!(m["mediaType"], manifest_media_type(family));
        assert_eq!(m["config"]["mediaType"], config_media_type(family));
        let cfg = blob(&m["config"]);
        check_config(&cfg, &w.diff_ids);
        let arch = d["platform"]["architecture"].as_str().unwrap_or("amd64");
        assert_eq!(json(&cfg)["architecture"], arch);
        for (j, l) in m["layers"].as_array().unwrap().iter().enumerate() {
            assert_eq!(l["mediaType"].as_str().unwrap(), w.layer_media_types[j]);
            check_layer(&blob(l), &w.layers[j], &w.diff_ids[j], j);
        }
    }
    manifests.len()
}

fn tar_getter(bytes: &[u8]) -> impl Fn(&str) -> Option<Vec<u8>> {
    let m = read_tar(bytes);
    move |p: &str| {
        // resolve one level of symlink (docker classic quirk)
        let e = m.get(p)?;
        if e.kind == tar::EntryType::Symlink {
            let dir = Path::new(p).parent().unwrap();
            let target = dir.join(e.link.as_ref().unwrap());
            let mut parts: Vec<&str> = Vec::new();
            for c in target.to_str().unwrap().split('/') {
                match c {
                    ".." => {
                        parts.pop();
                    }
                    "" | "." => {}
                    c => parts.push(c),
                }
            }
            return m.get(&parts.join("/")).map(|e| e.data.clone());
        }
        Some(e.data.clone())
    }
}

#[test]
fn oci_layout_dir_all_families_and_compressions() {
    for family in [MediaFamily::Oci, MediaFamily::Docker] {
        let tmp = tempfile::tempdir().unwrap();
        let img = three_layer_image(Compression::Gzip, Compression::Zstd);
        let w = write_oci_layout(std::slice::from_ref(&img), tmp.path(), family, false);
        let dir = tmp.path().to_path_buf();
        let get = move |p: &str| fs::read(dir.join(p)).ok();
        assert_eq!(check_oci(&get, &w, family), 1);
        let index = json(&fs::read(tmp.path().join("index.json")).unwrap());
        assert_eq!(
            index["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
            "latest"
        );
        assert_eq!(
            w.images[0].layer_media_types[0],
            layer_media_type(family, Compression::Gzip)
        );
    }
}

#[test]
fn oci_layout_multi_platform_nested_index() {
    for family in [MediaFamily::Oci, MediaFamily::Docker] {
        let tmp = tempfile::tempdir().unwrap();
        let amd = three_layer_image(Compression::Gzip, Compression::None);
        let arm = three_layer_image(Compression::None, Compression::Gzip).with_platform(
            "linux",
            "arm64",
            Some("v8"),
        );
        let w = write_oci_layout(&[amd, arm], tmp.path(), family, true);
        assert!(w.index.is_some());
        let dir = tmp.path().to_path_buf();
        let get = move |p: &str| fs::read(dir.join(p)).ok();
        assert_eq!(check_oci(&get, &w, family), 2);
        let index = json(&fs::read(tmp.path().join("index.json")).unwrap());
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(index["manifests"][0]["mediaType"], index_media_type(family));
        let nested = json(&fs::read(blob_path(tmp.path(), w.index.as_ref().unwrap())).unwrap());
        assert_eq!(nested["manifests"][1]["platform"]["variant"], "v8");
        assert_eq!(nested["manifests"][1]["platform"]["architecture"], "arm64");
    }
}

#[test]
fn oci_archive_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("img.oci.tar");
    let w = write_oci_archive(
        &[three_layer_image(Compression::Zstd, Compression::Gzip)],
        &out,
        MediaFamily::Oci,
        false,
    );
    let bytes = fs::read(&out).unwrap();
    let names: Vec<String> = member_names(&out);
    assert_eq!(
        &names[..4],
        &["oci-layout", "index.json", "blobs/", "blobs/sha256/"]
    );
    assert_eq!(check_oci(&tar_getter(&bytes), &w, MediaFamily::Oci), 1);
}

#[test]
fn docker_classic_reads_back_with_symlink_quirk() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("classic.tar");
    let img = three_layer_image(Compression::None, Compression::None);
    // second image shares layer 1 at the same position (stored once) and
    // repeats layer 2 at another position (symlink).
    let mut img2 = img.clone();
    img2.layers = vec![
        img.layers[0].clone(),
        img.layers[2].clone(),
        img.layers[1].clone(),
    ];
    img2.extra_history.clear();
    img2.repo_tags = vec!["other:1".into()];
    let w = write_docker_classic(&[img.clone(), img2], &out);
    let bytes = fs::read(&out).unwrap();
    let m = read_tar(&bytes);
    let get = tar_getter(&bytes);

    let manifest = json(&m["manifest.json"].data);
    assert_eq!(manifest.as_array().unwrap().len(), 2);
    let first = &manifest[0];
    assert_eq!(first["RepoTags"][0], "leaky:latest");
    let cfg_path = first["Config"].as_str().unwrap();
    assert_eq!(cfg_path, format!("{}.json", hex_of(&w.images[0].config)));
    let cfg = get(cfg_path).unwrap();
    assert_eq!(digest_of(&cfg), w.images[0].config);
    check_config(&cfg, &w.images[0].diff_ids);
    for (j, l) in first["Layers"].as_array().unwrap().iter().enumerate() {
        let p = l.as_str().unwrap();
        let v1 = p.strip_suffix("/layer.tar").unwrap();
        assert_eq!(m[&format!("{v1}/VERSION")].data, b"1.0");
        assert_eq!(json(&m[&format!("{v1}/json")].data)["id"], v1);
        assert_eq!(m[&format!("{v1}/")].kind, tar::EntryType::Directory);
        check_layer(
            &get(p).unwrap(),
            &w.images[0].layers[j],
            &w.images[0].diff_ids[j],
            j,
        );
    }
    // shared base layer stored once
    assert_eq!(w.images[0].v1_ids[0], w.images[1].v1_ids[0]);
    // image 2's third layer == image 1's second layer under another v1 id -> symlink
    let sym = &m[&w.images[1].layer_paths[2]];
    assert_eq!(sym.kind, tar::EntryType::Symlink);
    assert_eq!(
        sym.link.as_deref(),
        Some(format!("../{}", w.images[0].layer_paths[1]).as_str())
    );
    assert_eq!(
        get(&w.images[1].layer_paths[2]).unwrap(),
        get(&w.images[0].layer_paths[1]).unwrap()
    );
    let repos = json(&m["repositories"].data);
    assert_eq!(repos["leaky"]["latest"], w.images[0].v1_ids[2].as_str());
    assert_eq!(repos["other"]["1"], w.images[1].v1_ids[2].as_str());
    assert_eq!(m["manifest.json"].data.last(), Some(&b'\n'));
}

#[test]
fn docker_classic_single_image_repeated_layer_is_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("classic.tar");
    let a = Layer::new(vec![Entry::file("a.txt", "A")]);
    let b = Layer::new(vec![Entry::file("b.txt", "B")]);
    let img = Image::new()
        .with_layers(vec![a.clone(), b, a])
        .with_tag("dup:latest");
    let w = write_docker_classic(&[img], &out);
    let m = read_tar(&fs::read(&out).unwrap());
    let d = &w.images[0];
    assert_eq!(d.diff_ids[0], d.diff_ids[2]);
    assert_ne!(d.v1_ids[0], d.v1_ids[2]);
    assert_eq!(m[&d.layer_paths[0]].kind, tar::EntryType::Regular);
    assert_eq!(m[&d.layer_paths[2]].kind, tar::EntryType::Symlink);
}

#[test]
fn docker25_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d25.tar");
    let w = write_docker25(
        &[three_layer_image(Compression::None, Compression::None)],
        &out,
        false,
    );
    let bytes = fs::read(&out).unwrap();
    let m = read_tar(&bytes);
    assert_eq!(check_oci(&tar_getter(&bytes), &w, MediaFamily::Oci), 1);
    let d = &w.images[0];
    let manifest = json(&m["manifest.json"].data);
    assert_eq!(manifest[0]["Config"], d.config_path.as_str());
    assert_eq!(manifest[0]["RepoTags"][0], "leaky:latest");
    assert_eq!(manifest[0]["Layers"][1], d.layer_paths[1].as_str());
    let src = &manifest[0]["LayerSources"][&d.diff_ids[0]];
    assert_eq!(src["digest"], d.layers[0].as_str());
    assert_eq!(src["mediaType"], OCI_LAYER);
    let index = json(&m["index.json"].data);
    let ann = &index["manifests"][0]["annotations"];
    assert_eq!(
        ann[ANNOTATION_CONTAINERD_NAME],
        "docker.io/library/leaky:latest"
    );
    assert_eq!(ann[ANNOTATION_REF_NAME], "latest");
    // layers are stored uncompressed: blob digest == diff_id
    assert_eq!(d.layers, d.diff_ids);

    let out2 = tmp.path().join("d25-null.tar");
    write_docker25(
        &[three_layer_image(Compression::None, Compression::None)],
        &out2,
        true,
    );
    let index = json(&read_member(&out2, "index.json").unwrap());
    assert!(index["manifests"].is_null());
}

#[test]
fn output_is_byte_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let img = [three_layer_image(Compression::Gzip, Compression::Zstd)];
    type Writer = fn(&[Image], &Path);
    let writers: [(&str, Writer); 4] = [
        ("classic", |i, p| {
            write_docker_classic(i, p);
        }),
        ("d25", |i, p| {
            write_docker25(i, p, false);
        }),
        ("oci", |i, p| {
            write_oci_archive(i, p, MediaFamily::Oci, true);
        }),
        ("docker-oci", |i, p| {
            write_oci_archive(i, p, MediaFamily::Docker, false);
        }),
    ];
    for (name, f) in writers {
        let a = tmp.path().join(format!("{name}-a.tar"));
        let b = tmp.path().join(format!("{name}-b.tar"));
        f(&img, &a);
        f(&img, &b);
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{name}");
    }
    // gzip header carries no mtime/name
    let gz = compress(b"x", Compression::Gzip);
    assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
}

#[test]
fn layer_tar_header_details() {
    let layer = Layer::new(vec![Entry::file("a/b/c.txt", "hello")]).with_parent_dirs(false);
    let t = layer_tar(&layer);
    let members = tar_members(&t);
    assert_eq!(members.len(), 1, "no implicit parents");
    assert_eq!(t.len(), 512 * 2 + 1024);
    let mut ar = tar::Archive::new(&t[..]);
    let e = ar.entries().unwrap().next().unwrap().unwrap();
    let h = e.header();
    assert_eq!(h.mtime().unwrap(), 0);
    assert_eq!(h.uid().unwrap(), 0);
    assert_eq!(h.gid().unwrap(), 0);
    assert_eq!(h.mode().unwrap(), 0o644);
    assert_eq!(h.size().unwrap(), 5);

    // GNU long names for a >100-byte symlink target and name
    let long_target = format!("/{}", "t".repeat(150));
    let layer = Layer::new(vec![Entry::symlink(long_path(), long_target.clone())]);
    let m = read_tar(&layer_tar(&layer));
    assert_eq!(
        m[long_path().as_str()].link.as_deref(),
        Some(long_target.as_str())
    );
    // same via PAX
    let m = read_tar(&layer_tar(&layer.clone().with_pax(true)));
    assert_eq!(
        m[long_path().as_str()].link.as_deref(),
        Some(long_target.as_str())
    );

    // explicit dir listed after its child keeps its mode, emitted once
    let layer = Layer::new(vec![Entry::file("d/x", "1"), Entry::dir_mode("d", 0o700)]);
    let members = tar_members(&layer_tar(&layer));
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["d/", "d/x"]);
    assert_eq!(members[0].mode, 0o700);

    // empty layer is just the two end blocks
    assert_eq!(layer_tar(&Layer::new(vec![])), vec![0u8; 1024]);
}

#[test]
fn tamper_helpers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("classic.tar");
    let w = write_docker_classic(
        &[three_layer_image(Compression::None, Compression::None)],
        &out,
    );
    let p0 = w.images[0].layer_paths[0].clone();
    let orig = read_member(&out, &p0).unwrap();

    truncate_member(&out, &p0, 700);
    let m = read_tar(&fs::read(&out).unwrap()); // outer tar still valid
    assert_eq!(m[&p0].data, orig[..700]);
    assert!(m.contains_key("manifest.json"));

    corrupt_member(&out, "manifest.json");
    assert!(serde_json::from_slice::<Value>(&read_member(&out, "manifest.json").unwrap()).is_err());
    replace_member(&out, "manifest.json", b"[]");
    assert_eq!(read_member(&out, "manifest.json").unwrap(), b"[]");

    remove_member(&out, "manifest.json");
    let m = read_tar(&fs::read(&out).unwrap());
    assert!(!m.contains_key("manifest.json"));
    assert!(m.contains_key("repositories"));

    append_member(&out, "extra.txt", b"x");
    assert_eq!(read_member(&out, "extra.txt").unwrap(), b"x");

    // layout blob corruption
    let dir = tmp.path().join("layout");
    let w = write_oci_layout(
        &[three_layer_image(Compression::Gzip, Compression::None)],
        &dir,
        MediaFamily::Oci,
        false,
    );
    let d = &w.images[0].layers[1];
    let before = fs::read(blob_path(&dir, d)).unwrap();
    corrupt_blob(&dir, d);
    let after = fs::read(blob_path(&dir, d)).unwrap();
    assert_eq!(before.len(), after.len());
    assert_ne!(digest_of(&after), *d);

    // gzip wrapper
    let gz = gzip_file(&out);
    assert!(gz.to_str().unwrap().ends_with("classic.tar.gz"));
    assert_eq!(decompress(&fs::read(&gz).unwrap()), fs::read(&out).unwrap());
}

#[test]
fn chain_ids_match_spec() {
    let ids = vec![digest_of(b"a"), digest_of(b"b")];
    let c = chain_ids(&ids);
    assert_eq!(c[0], ids[0]);
    assert_eq!(c[1], digest_of(format!("{} {}", ids[0], ids[1]).as_bytes()));
    assert_eq!(
        split_tag("localhost:5000/x/y:1.2"),
        ("localhost:5000/x/y".into(), "1.2".into())
    );
    assert_eq!(
        split_tag("localhost:5000/x"),
        ("localhost:5000/x".into(), "latest".into())
    );
    assert_eq!(normalize_ref("user/app:v1"), "docker.io/user/app:v1");
    assert_eq!(normalize_ref("ghcr.io/o/app"), "ghcr.io/o/app:latest");
}
