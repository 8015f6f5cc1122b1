//! Byte-level tar writing, reading and tampering.
//!
//! Headers are written by hand (not via `tar::Builder`) so that fixtures keep
//! exact control over names: a leading `./`, trailing `/` on directories, GNU
//! `././@LongLink` or PAX `x` records for names over 100 bytes, and whether the
//! two zero end-of-archive blocks are present.

use std::fs;
use std::path::Path;

pub const BLOCK: usize = 512;
/// Modification time written into every header.
pub const MTIME: u64 = 0;

/// Typeflags.
pub const REGTYPE: u8 = b'0';
pub const LNKTYPE: u8 = b'1';
pub const SYMTYPE: u8 = b'2';
pub const DIRTYPE: u8 = b'5';

/// How names / link targets longer than 100 bytes are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongNames {
    /// GNU `././@LongLink` entries (typeflag `L` / `K`), like GNU tar and the tar crate.
    Gnu,
    /// A PAX extended header (typeflag `x`) with `path=` / `linkpath=`, like Go's archive/tar.
    Pax,
}

/// A numeric header field: octal, or GNU base-256 when it does not fit.
pub fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{value:0width$o}");
    if s.len() <= width {
        field[..width].copy_from_slice(s.as_bytes());
        field[width] = 0;
    } else {
        field.fill(0);
        let n = field.len();
        field[n - 8..].copy_from_slice(&value.to_be_bytes());
        field[0] = 0x80;
    }
}

fn put(field: &mut [u8], bytes: &[u8]) {
    let n = bytes.len().min(field.len());
    field[..n].copy_from_slice(&bytes[..n]);
}

pub fn set_checksum(h: &mut [u8]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h[..BLOCK].iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}");
    h[148..154].copy_from_slice(s.as_bytes());
    h[154] = 0;
    h[155] = b' ';
}

/// One 512-byte header block. `name`/`linkname` are cut to 100 bytes.
/// `gnu` selects the GNU magic (`"ustar  \0"`) instead of POSIX ustar (`"ustar\0" "00"`).
pub fn header_block(
    name: &[u8],
    mode: u32,
    size: u64,
    typeflag: u8,
    linkname: &[u8],
    gnu: bool,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    put(&mut h[0..100], name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], MTIME);
    h[156] = typeflag;
    put(&mut h[157..257], linkname);
    if gnu {
        h[257..265].copy_from_slice(b"ustar  \0");
    } else {
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h[329..337], 0); // devmajor
        octal(&mut h[337..345], 0); // devminor
    }
    set_checksum(&mut h);
    h
}

/// Zero-pads to a whole number of 512-byte blocks.
pub fn pad(buf: &mut Vec<u8>) {
    let rem = buf.len() % BLOCK;
    if rem != 0 {
        buf.resize(buf.len() + BLOCK - rem, 0);
    }
}

pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "<len> <key>=<value>\n" where <len> counts the whole record including itself.
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    assert_eq!(rec.len(), len);
    rec
}

/// A tar stream writer with deterministic headers (uid/gid 0, mtime [`MTIME`]).
pub struct TarWriter {
    buf: Vec<u8>,
    long_names: LongNames,
}

impl Default for TarWriter {
    fn default() -> Self {
        Self::new(LongNames::Gnu)
    }
}

impl TarWriter {
    pub fn new(long_names: LongNames) -> Self {
        TarWriter {
            buf: Vec::new(),
            long_names,
        }
    }

    /// Write one member. `name` is used verbatim (no normalisation at all).
    pub fn entry(&mut self, name: &str, typeflag: u8, mode: u32, linkname: &str, data: &[u8]) {
        let (nb, lb) = (name.as_bytes(), linkname.as_bytes());
        let mut gnu = false;
        if nb.len() > 100 || lb.len() > 100 {
            match self.long_names {
                LongNames::Gnu => {
                    gnu = true;
                    if lb.len() > 100 {
                        let mut d = lb.to_vec();
                        d.push(0);
                        self.raw(b"././@LongLink", 0o644, b'K', b"", &d, true);
                    }
                    if nb.len() > 100 {
                        let mut d = nb.to_vec();
                        d.push(0);
                        self.raw(b"././@LongLink", 0o644, b'L', b"", &d, true);
                    }
                }
                LongNames::Pax => {
                    let mut recs = Vec::new();
                    if lb.len() > 100 {
                        recs.extend(pax_record("linkpath", lb));
                    }
                    if nb.len() > 100 {
                        recs.extend(pax_record("path", nb));
                    }
                    let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("x");
                    let mut pax_name = format!("PaxHeaders.0/{base}").into_bytes();
                    pax_name.truncate(100);
                    self.raw(&pax_name, 0o644, b'x', b"", &recs, false);
                }
            }
        }
        self.raw(nb, mode, typeflag, lb, data, gnu);
    }

    fn raw(
        &mut self,
        name: &[u8],
        mode: u32,
        typeflag: u8,
        linkname: &[u8],
        data: &[u8],
        gnu: bool,
    ) {
        let h = header_block(name, mode, data.len() as u64, typeflag, linkname, gnu);
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
    }

    pub fn file(&mut self, name: &str, data: &[u8], mode: u32) {
        self.entry(name, REGTYPE, mode, "", data);
    }
    /// `name` verbatim: pass a trailing `/` if wanted.
    pub fn dir(&mut self, name: &str, mode: u32) {
        self.entry(name, DIRTYPE, mode, "", b"");
    }
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, SYMTYPE, 0o777, target, b"");
    }
    pub fn hardlink(&mut self, name: &str, target: &str) {
        self.entry(name, LNKTYPE, 0o644, target, b"");
    }

    /// Finish the stream, optionally appending the two zero end-of-archive blocks.
    pub fn finish(mut self, end_blocks: bool) -> Vec<u8> {
        if end_blocks {
            self.buf.extend_from_slice(&[0u8; 2 * BLOCK]);
        }
        self.buf
    }
}

/// A member of an outer (container-format) tar, used by [`write_outer_tar`].
#[derive(Clone, Debug)]
pub enum OuterEntry {
    File(Vec<u8>),
    Dir,
    Symlink(String),
}

/// Write an archive the way Docker's `archive.Tar` walks a directory: entries in
/// lexical walk order (component-wise), directories with a trailing `/`, parent
/// directories added automatically. Files 0644, directories 0755.
pub fn write_outer_tar(entries: Vec<(String, OuterEntry)>) -> Vec<u8> {
    use std::collections::BTreeMap;
    let mut all: BTreeMap<Vec<String>, OuterEntry> = BTreeMap::new();
    for (path, e) in entries {
        let comps: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(str::to_string)
            .collect();
        for i in 1..comps.len() {
            all.entry(comps[..i].to_vec()).or_insert(OuterEntry::Dir);
        }
        all.insert(comps, e);
    }
    let mut w = TarWriter::new(LongNames::Pax);
    for (comps, e) in all {
        let name = comps.join("/");
        match e {
            OuterEntry::File(d) => w.file(&name, &d, 0o644),
            OuterEntry::Dir => w.dir(&format!("{name}/"), 0o755),
            OuterEntry::Symlink(t) => w.symlink(&name, &t),
        }
    }
    w.finish(true)
}

/// Write members in exactly the given order (no implicit directories).
pub fn write_tar_in_order(entries: &[(String, OuterEntry)]) -> Vec<u8> {
    let mut w = TarWriter::new(LongNames::Pax);
    for (name, e) in entries {
        match e {
            OuterEntry::File(d) => w.file(name, d, 0o644),
            OuterEntry::Dir => w.dir(name, 0o755),
            OuterEntry::Symlink(t) => w.symlink(name, t),
        }
    }
    w.finish(true)
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// One logical member of a tar stream (extension headers folded in).
#[derive(Clone, Debug)]
pub struct TarMember {
    /// Effective name (GNU long name / PAX path / ustar prefix applied), verbatim.
    pub name: String,
    pub typeflag: u8,
    pub mode: u32,
    pub linkname: String,
    pub size: u64,
    pub data: Vec<u8>,
    /// Offset of the first block belonging to this member (first extension header, if any).
    pub start: usize,
    /// Offset of the member's own header block.
    pub header_offset: usize,
    /// Offset just past the member's padded data.
    pub end: usize,
}

fn parse_octal(field: &[u8]) -> u64 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // base-256
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = (v << 8) | u64::from(b);
        }
        return v;
    }
    let s: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    u64::from_str_radix(s.trim(), 8).unwrap_or(0)
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn parse_pax(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let Ok(len) = std::str::from_utf8(&rest[..sp])
            .unwrap_or("")
            .parse::<usize>()
        else {
            break;
        };
        if len == 0 || len > rest.len() {
            break;
        }
        let rec = &rest[sp + 1..len - 1]; // strip trailing '\n'
        if let Some(eq) = rec.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&rec[..eq]).into_owned(),
                rec[eq + 1..].to_vec(),
            ));
        }
        rest = &rest[len..];
    }
    out
}

/// Parse every member of a tar stream. Stops at the first zero block or at EOF;
/// a member whose data runs past EOF is returned with the data that exists.
pub fn tar_members(bytes: &[u8]) -> Vec<TarMember> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut group_start: Option<usize> = None;
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    while pos + BLOCK <= bytes.len() {
        let h = &bytes[pos..pos + BLOCK];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let size = parse_octal(&h[124..136]) as usize;
        let typeflag = h[156];
        let data_start = pos + BLOCK;
        let data_end = (data_start + size).min(bytes.len());
        let padded = data_start + size.div_ceil(BLOCK) * BLOCK;
        let data = &bytes[data_start..data_end];
        let start = *group_start.get_or_insert(pos);
        match typeflag {
            b'L' => long_name = Some(cstr(data)),
            b'K' => long_link = Some(cstr(data)),
            b'x' => {
                for (k, v) in parse_pax(data) {
                    match k.as_str() {
                        "path" => long_name = Some(String::from_utf8_lossy(&v).into_owned()),
                        "linkpath" => long_link = Some(String::from_utf8_lossy(&v).into_owned()),
                        _ => {}
                    }
                }
            }
            b'g' => {}
            _ => {
                let mut name = cstr(&h[0..100]);
                if &h[257..263] == b"ustar\0" {
                    let prefix = cstr(&h[345..500]);
                    if !prefix.is_empty() {
                        name = format!("{prefix}/{name}");
                    }
                }
                out.push(TarMember {
                    name: long_name.take().unwrap_or(name),
                    typeflag,
                    mode: parse_octal(&h[100..108]) as u32,
                    linkname: long_link.take().unwrap_or_else(|| cstr(&h[157..257])),
                    size: size as u64,
                    data: data.to_vec(),
                    start,
                    header_offset: pos,
                    end: padded.min(bytes.len()),
                });
                group_start = None;
            }
        }
        pos = padded;
    }
    out
}

/// `./a/b/` -> `a/b`
pub fn normalize_name(name: &str) -> &str {
    let mut n = name;
    while let Some(rest) = n.strip_prefix("./") {
        n = rest;
    }
    n.trim_start_matches('/').trim_end_matches('/')
}

fn names_match(a: &str, b: &str) -> bool {
    normalize_name(a) == normalize_name(b)
}

/// Data of the first member named `member` (leading `./` and trailing `/` ignored).
pub fn member_data(tar_bytes: &[u8], member: &str) -> Option<Vec<u8>> {
    tar_members(tar_bytes)
        .into_iter()
        .find(|m| names_match(&m.name, member))
        .map(|m| m.data)
}

/// Read a member from a tar file on disk.
pub fn read_member(tar_path: &Path, member: &str) -> Option<Vec<u8>> {
    member_data(&fs::read(tar_path).expect("read tar"), member)
}

/// Names of all members of a tar file on disk.
pub fn member_names(tar_path: &Path) -> Vec<String> {
    tar_members(&fs::read(tar_path).expect("read tar"))
        .into_iter()
        .map(|m| m.name)
        .collect()
}

enum Edit<'a> {
    Remove,
    Truncate(usize),
    Replace(&'a [u8]),
    FlipByte,
}

fn rewrite(bytes: &[u8], member: &str, edit: Edit<'_>) -> Vec<u8> {
    let members = tar_members(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    let mut pos = 0usize;
    let mut hit = false;
    for m in members.iter().filter(|m| names_match(&m.name, member)) {
        hit = true;
        out.extend_from_slice(&bytes[pos..m.start]);
        pos = m.end;
        let new_data: Vec<u8> = match edit {
            Edit::Remove => continue,
            Edit::Truncate(keep) => m.data[..keep.min(m.data.len())].to_vec(),
            Edit::Replace(d) => d.to_vec(),
            Edit::FlipByte => {
                let mut d = m.data.clone();
                if d.is_empty() {
                    d.push(0xff);
                } else {
                    let i = d.len() / 2;
                    d[i] ^= 0xff;
                }
                d
            }
        };
        // extension headers unchanged
        out.extend_from_slice(&bytes[m.start..m.header_offset]);
        let mut h = [0u8; BLOCK];
        h.copy_from_slice(&bytes[m.header_offset..m.header_offset + BLOCK]);
        octal(&mut h[124..136], new_data.len() as u64);
        set_checksum(&mut h);
        out.extend_from_slice(&h);
        out.extend_from_slice(&new_data);
        pad(&mut out);
    }
    assert!(hit, "no member named {member:?} in tar");
    out.extend_from_slice(&bytes[pos..]);
    out
}

/// Rewrite a tar file with `member`'s data cut to `keep_bytes` (header size
/// adjusted, so the outer tar stays structurally valid).
pub fn truncate_member(tar_path: &Path, member: &str, keep_bytes: usize) {
    let b = fs::read(tar_path).expect("read tar");
    fs::write(tar_path, rewrite(&b, member, Edit::Truncate(keep_bytes))).expect("write tar");
}

/// Rewrite a tar file without `member` (all members with that name).
pub fn remove_member(tar_path: &Path, member: &str) {
    let b = fs::read(tar_path).expect("read tar");
    fs::write(tar_path, rewrite(&b, member, Edit::Remove)).expect("write tar");
}

/// Rewrite a tar file with `member`'s content replaced by `data`.
pub fn replace_member(tar_path: &Path, member: &str, data: &[u8]) {
    let b = fs::read(tar_path).expect("read tar");
    fs::write(tar_path, rewrite(&b, member, Edit::Replace(data))).expect("write tar");
}

/// Rewrite a tar file with one byte in the middle of `member`'s data flipped
/// (size unchanged; the member's digest no longer matches).
pub fn corrupt_member(tar_path: &Path, member: &str) {
    let b = fs::read(tar_path).expect("read tar");
    fs::write(tar_path, rewrite(&b, member, Edit::FlipByte)).expect("write tar");
}

/// Append a member at the end of an existing tar file (before its end blocks).
pub fn append_member(tar_path: &Path, name: &str, data: &[u8]) {
    let b = fs::read(tar_path).expect("read tar");
    let end = tar_members(&b).last().map_or(0, |m| m.end);
    let mut out = b[..end].to_vec();
    let mut w = TarWriter::new(LongNames::Pax);
    w.file(name, data, 0o644);
    out.extend(w.finish(true));
    fs::write(tar_path, out).expect("write tar");
}
