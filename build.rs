//! Embeds every `signatures/*.toml` rule file in the binary, deflated: the
//! rules' examples are realistic fake secrets, and a secret scanner's own
//! binary must not look like a leak to itself or to any other scanner.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("signatures");
    let out_dir = std::env::var("OUT_DIR").unwrap();
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("signatures/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = String::from("pub const BUILTIN: &[(&str, &[u8])] = &[\n");
    for f in files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read(&f).unwrap();
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&text).unwrap();
        let packed = Path::new(&out_dir).join(format!("{name}.deflate"));
        std::fs::write(&packed, z.finish().unwrap()).unwrap();
        writeln!(
            out,
            "    ({name:?}, include_bytes!({:?})),",
            packed.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    std::fs::write(Path::new(&out_dir).join("builtin_rules.rs"), out).unwrap();
}
