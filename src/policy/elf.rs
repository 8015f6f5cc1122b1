//! ELF inspection for the entrypoint checks: architecture, linkage
//! (interpreter and `DT_NEEDED`), object kind and whether a symbol table is
//! left. Only program headers decide linkage, as the kernel and the dynamic
//! loader do, so section-stripped binaries read correctly.
//!
//! Every value comes from untrusted bytes: out-of-range offsets and sizes are
//! errors, never panics, and nothing is allocated from a size the file claims.

use anyhow::{anyhow, bail, Result};
use object::elf::{
    FileHeader32, FileHeader64, DF_1_PIE, DT_FLAGS_1, DT_NEEDED, DT_NULL, DT_STRSZ, DT_STRTAB,
    ELFCLASS32, ELFCLASS64, ELFMAG, EM_386, EM_AARCH64, EM_ARM, EM_LOONGARCH, EM_MIPS, EM_PPC,
    EM_PPC64, EM_RISCV, EM_S390, EM_SPARC, EM_SPARCV9, EM_X86_64, ET_CORE, ET_DYN, ET_EXEC, ET_REL,
    PT_LOAD, SHT_SYMTAB,
};
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, SectionHeader as _};
use object::Endianness;
use serde::Serialize;
use std::ops::Range;

/// Index of the class byte (32/64-bit) in `e_ident`.
const EI_CLASS: usize = 4;
/// The `DT_NEEDED` names of one file, in all (real ones: well under 4 KiB).
const MAX_NEEDED_BYTES: usize = 64 << 10;

/// What the entrypoint checks need to know about an ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfInfo {
    /// 32 or 64.
    pub class: u8,
    /// OCI (GOARCH) architecture name, e.g. `amd64`, `arm64`, `386`, or
    /// `unknown(<e_machine>)`.
    pub machine: String,
    pub kind: ElfKind,
    /// `PT_INTERP` contents without the trailing NUL.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries in order.
    pub needed: Vec<String>,
    /// No interpreter and no `DT_NEEDED` (a static-pie counts as static).
    pub static_linked: bool,
    /// No `SHT_SYMTAB` section.
    pub stripped: bool,
    pub big_endian: bool,
}

/// The ELF object kind, from `e_type` refined by the dynamic information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElfKind {
    /// `ET_EXEC`.
    Executable,
    /// `ET_DYN` with an interpreter or the `DF_1_PIE` flag.
    PositionIndependent,
    /// Any other `ET_DYN`.
    SharedObject,
    Relocatable,
    Core,
    Other,
}

/// Whether `data` starts with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(&ELFMAG)
}

/// Reads the ELF facts of `data`: `Ok(None)` when it is not ELF at all, an
/// error naming the problem when it is ELF but malformed or truncated.
pub fn inspect(data: &[u8]) -> Result<Option<ElfInfo>> {
    if !is_elf(data) {
        return Ok(None);
    }
    with_aligned(data, |data| match data.get(EI_CLASS).copied() {
        Some(ELFCLASS32) => Elf::<FileHeader32<Endianness>>::parse(data)?.info(),
        Some(ELFCLASS64) => Elf::<FileHeader64<Endianness>>::parse(data)?.info(),
        Some(class) => bail!("malformed ELF: unknown class byte {class}"),
        None => bail!("malformed ELF: truncated identification"),
    })
    .map(Some)
}

/// Whether a binary runs natively on the OCI platform `architecture`
/// (`variant`). Common aliases (`x86_64`, `aarch64`, `i686`, `armhf`,
/// `ppc64el`) are accepted. The variant does not narrow the match: the ELF
/// header does not say which ARM revision (v5/v6/v7) a binary needs, so
/// `arm` matches any 32-bit little-endian ARM binary.
pub fn oci_arch_matches(info: &ElfInfo, architecture: &str, _variant: Option<&str>) -> bool {
    info.machine == oci_arch_alias(architecture)
}

/// The OCI name for an architecture alias (lower-cased).
fn oci_arch_alias(architecture: &str) -> String {
    let arch = architecture.to_ascii_lowercase();
    let canonical = match arch.as_str() {
        "x86_64" | "x86-64" | "x64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i486" | "i586" | "i686" | "x86" => "386",
        "armhf" | "armel" | "armv5" | "armv6" | "armv6l" | "armv7" | "armv7l" => "arm",
        "ppc64el" => "ppc64le",
        _ => return arch,
    };
    canonical.to_string()
}

/// The OCI / GOARCH name of a machine, or `unknown(<e_machine>)` when the
/// machine, class and byte order do not make a known architecture.
fn machine_name(e_machine: u16, is_64: bool, big_endian: bool) -> String {
    let name = match (e_machine, is_64, big_endian) {
        (EM_386, false, false) => "386",
        (EM_X86_64, true, false) => "amd64",
        (EM_X86_64, false, false) => "amd64p32",
        (EM_ARM, false, false) => "arm",
        (EM_ARM, false, true) => "armbe",
        (EM_AARCH64, true, false) => "arm64",
        (EM_AARCH64, true, true) => "arm64be",
        (EM_PPC64, true, false) => "ppc64le",
        (EM_PPC64, true, true) => "ppc64",
        (EM_PPC, false, true) => "ppc",
        (EM_S390, true, true) => "s390x",
        (EM_S390, false, true) => "s390",
        (EM_RISCV, true, false) => "riscv64",
        (EM_RISCV, false, false) => "riscv",
        (EM_MIPS, false, false) => "mipsle",
        (EM_MIPS, false, true) => "mips",
        (EM_MIPS, true, false) => "mips64le",
        (EM_MIPS, true, true) => "mips64",
        (EM_LOONGARCH, true, false) => "loong64",
        (EM_SPARCV9, true, true) => "sparc64",
        (EM_SPARC, false, true) => "sparc",
        _ => return format!("unknown({e_machine})"),
    };
    name.to_string()
}

/// The file-backed part of each `PT_LOAD` segment, to turn virtual
/// addresses into file offsets (for Go's pre-1.18 build info pointers and
/// for `DT_STRTAB`).
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressMap {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    vaddr: u64,
    offset: u64,
    filesz: u64,
}

impl AddressMap {
    /// The `len` bytes at virtual address `addr`, when one segment holds
    /// them all and they are inside `data`.
    pub(crate) fn read<'a>(&self, data: &'a [u8], addr: u64, len: u64) -> Option<&'a [u8]> {
        self.segments
            .iter()
            .find_map(|s| s.file_range(addr, len))
            .and_then(|range| data.get(range))
    }
}

impl Segment {
    fn file_range(&self, addr: u64, len: u64) -> Option<Range<usize>> {
        let rel = addr.checked_sub(self.vaddr)?;
        if rel.checked_add(len)? > self.filesz {
            return None;
        }
        let start = self.offset.checked_add(rel)?;
        let end = start.checked_add(len)?;
        Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }
}

/// The address map of an ELF file, or `None` when `data` is not ELF or its
/// program headers cannot be read.
pub(crate) fn address_map(data: &[u8]) -> Option<AddressMap> {
    if !is_elf(data) {
        return None;
    }
    with_aligned(data, |data| match data.get(EI_CLASS).copied() {
        Some(ELFCLASS32) => Some(
            Elf::<FileHeader32<Endianness>>::parse(data)
                .ok()?
                .address_map(),
        ),
        Some(ELFCLASS64) => Some(
            Elf::<FileHeader64<Endianness>>::parse(data)
                .ok()?
                .address_map(),
        ),
        _ => None,
    })
}

/// `object` reads ELF structures in place, so they must be aligned: runs
/// `f` on `data` itself when it is 8-byte aligned, else on an aligned copy.
/// Offsets into the copy are offsets into `data`.
fn with_aligned<T>(data: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    const ALIGN: usize = 8;
    if (data.as_ptr() as usize).is_multiple_of(ALIGN) {
        return f(data);
    }
    let mut buf = vec![0u8; data.len() + ALIGN - 1];
    let start = (ALIGN - (buf.as_ptr() as usize) % ALIGN) % ALIGN;
    let copy = &mut buf[start..start + data.len()];
    copy.copy_from_slice(data);
    f(copy)
}

/// An ELF file whose header and program headers have been read.
struct Elf<'a, H: FileHeader<Endian = Endianness>> {
    data: &'a [u8],
    header: &'a H,
    endian: Endianness,
    phdrs: &'a [H::ProgramHeader],
}

/// What the dynamic segment says.
#[derive(Default)]
struct Dynamic {
    needed: Vec<String>,
    pie: bool,
}

impl<'a, H: FileHeader<Endian = Endianness>> Elf<'a, H> {
    fn parse(data: &'a [u8]) -> Result<Self> {
        let header = H::parse(data).map_err(|e| malformed("header", e))?;
        let endian = header.endian().map_err(|e| malformed("header", e))?;
        let phdrs = header
            .program_headers(endian, data)
            .map_err(|e| malformed("program headers", e))?;
        Ok(Elf {
            data,
            header,
            endian,
            phdrs,
        })
    }

    fn info(&self) -> Result<ElfInfo> {
        self.check_loads_in_file()?;
        let interpreter = self.interpreter()?;
        let dynamic = self.dynamic()?;
        let big_endian = self.header.is_big_endian();
        let is_64 = self.header.is_class_64();
        Ok(ElfInfo {
            class: if is_64 { 64 } else { 32 },
            machine: machine_name(self.header.e_machine(self.endian), is_64, big_endian),
            kind: self.kind(interpreter.is_some(), dynamic.pie),
            static_linked: interpreter.is_none() && dynamic.needed.is_empty(),
            interpreter,
            needed: dynamic.needed,
            stripped: !self.has_symtab()?,
            big_endian,
        })
    }

    /// A loadable segment past the end of the file means a truncated file.
    fn check_loads_in_file(&self) -> Result<()> {
        let len = self.data.len() as u64;
        for (i, ph) in self.phdrs.iter().enumerate() {
            if ph.p_type(self.endian) != PT_LOAD {
                continue;
            }
            let (offset, size) = ph.file_range(self.endian);
            match offset.checked_add(size) {
                Some(end) if end <= len => {}
                _ => bail!(
                    "truncated ELF: loadable segment {i} needs bytes {offset}+{size} but the file has {len}"
                ),
            }
        }
        Ok(())
    }

    fn interpreter(&self) -> Result<Option<String>> {
        for ph in self.phdrs {
            let interp = ph
                .interpreter(self.endian, self.data)
                .map_err(|e| malformed("PT_INTERP", e))?;
            if let Some(path) = interp {
                return Ok(Some(String::from_utf8_lossy(path).into_owned()));
            }
        }
        Ok(None)
    }

    /// Reads `DT_NEEDED` and `DT_FLAGS_1` from the first `PT_DYNAMIC`.
    fn dynamic(&self) -> Result<Dynamic> {
        let mut entries = None;
        for ph in self.phdrs {
            entries = ph
                .dynamic(self.endian, self.data)
                .map_err(|e| malformed("PT_DYNAMIC", e))?;
            if entries.is_some() {
                break;
            }
        }
        let Some(entries) = entries else {
            return Ok(Dynamic::default());
        };
        let (mut needed, mut strtab, mut strsz, mut flags_1) = (Vec::new(), None, None, 0);
        for d in entries {
            match d.tag(self.endian) {
                DT_NULL => break,
                DT_NEEDED => needed.push(d.val(self.endian)),
                DT_STRTAB => strtab = Some(d.val(self.endian)),
                DT_STRSZ => strsz = Some(d.val(self.endian)),
                DT_FLAGS_1 => flags_1 = d.val(self.endian),
                _ => {}
            }
        }
        let pie = flags_1 & u64::from(DF_1_PIE) != 0;
        if needed.is_empty() {
            return Ok(Dynamic {
                needed: vec![],
                pie,
            });
        }
        let (Some(strtab), Some(strsz)) = (strtab, strsz) else {
            bail!("malformed ELF: DT_NEEDED without DT_STRTAB and DT_STRSZ");
        };
        let strings = self
            .address_map()
            .read(self.data, strtab, strsz)
            .ok_or_else(|| anyhow!("malformed ELF: DT_STRTAB is not inside a loaded segment"))?;
        // Every DT_NEEDED may name the same long string: the names are
        // bounded in all, or a 1 MB file asks for gigabytes of copies.
        let mut names = Vec::new();
        let mut total = 0usize;
        for offset in needed {
            let name = c_string(strings, offset)?;
            total += name.len();
            if total > MAX_NEEDED_BYTES {
                bail!("malformed ELF: DT_NEEDED names add up to over {MAX_NEEDED_BYTES} bytes");
            }
            names.push(name);
        }
        Ok(Dynamic { needed: names, pie })
    }

    fn has_symtab(&self) -> Result<bool> {
        let sections = self
            .header
            .section_headers(self.endian, self.data)
            .map_err(|e| malformed("section headers", e))?;
        Ok(sections
            .iter()
            .any(|s| s.sh_type(self.endian) == SHT_SYMTAB))
    }

    fn kind(&self, has_interpreter: bool, pie_flag: bool) -> ElfKind {
        match self.header.e_type(self.endian) {
            ET_EXEC => ElfKind::Executable,
            ET_DYN if has_interpreter || pie_flag => ElfKind::PositionIndependent,
            ET_DYN => ElfKind::SharedObject,
            ET_REL => ElfKind::Relocatable,
            ET_CORE => ElfKind::Core,
            _ => ElfKind::Other,
        }
    }

    fn address_map(&self) -> AddressMap {
        let segments = self
            .phdrs
            .iter()
            .filter(|ph| ph.p_type(self.endian) == PT_LOAD)
            .map(|ph| Segment {
                vaddr: ph.p_vaddr(self.endian).into(),
                offset: ph.p_offset(self.endian).into(),
                filesz: ph.p_filesz(self.endian).into(),
            })
            .collect();
        AddressMap { segments }
    }
}

/// The NUL-terminated string at `offset` in a string table.
fn c_string(table: &[u8], offset: u64) -> Result<String> {
    let rest = usize::try_from(offset)
        .ok()
        .and_then(|o| table.get(o..))
        .ok_or_else(|| anyhow!("malformed ELF: DT_NEEDED offset {offset} is outside DT_STRTAB"))?;
    let len = memchr::memchr(0, rest)
        .ok_or_else(|| anyhow!("malformed ELF: DT_NEEDED string at {offset} is not terminated"))?;
    Ok(String::from_utf8_lossy(&rest[..len]).into_owned())
}

fn malformed(what: &str, err: object::read::Error) -> anyhow::Error {
    anyhow!("malformed ELF: {what}: {err}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::elf::{Dyn64, Ident, ProgramHeader64, ELFDATA2LSB, EV_CURRENT, PT_DYNAMIC};
    use object::pod::{bytes_of, bytes_of_slice};
    use object::{I64, U16, U32, U64};

    const HELLO_DYN: &[u8] = include_bytes!("../../tests/data/elf/hello-dyn-amd64");
    const STATIC: &[u8] = include_bytes!("../../tests/data/elf/static-amd64");
    const STATIC_SYMBOLS: &[u8] = include_bytes!("../../tests/data/elf/static-amd64-symbols");
    const STATIC_I386: &[u8] = include_bytes!("../../tests/data/elf/static-i386");
    const STATIC_PIE: &[u8] = include_bytes!("../../tests/data/elf/static-pie-amd64");
    pub(crate) const SAMPLES: [&[u8]; 5] =
        [HELLO_DYN, STATIC, STATIC_SYMBOLS, STATIC_I386, STATIC_PIE];

    fn info(data: &[u8]) -> ElfInfo {
        inspect(data)
            .expect("sample parses")
            .expect("sample is ELF")
    }

    /// Deterministic xorshift64 generator for the hostile-input tests.
    pub(crate) struct XorShift(pub(crate) u64);

    impl XorShift {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        /// Flips, overwrites with boundary values or truncates `data`.
        pub(crate) fn mutate(&mut self, data: &[u8]) -> Vec<u8> {
            const EDGES: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
            let mut out = data.to_vec();
            for _ in 0..=self.below(8) {
                let at = self.below(out.len());
                // Headers hold most of the structure: hit them more often.
                let at = if self.below(2) == 0 {
                    at % 128.min(out.len())
                } else {
                    at
                };
                match self.below(3) {
                    0 => out[at] ^= 1 << self.below(8),
                    1 => out[at] = EDGES[self.below(EDGES.len())],
                    _ => out[at] = self.next() as u8,
                }
            }
            if self.below(8) == 0 {
                out.truncate(self.below(out.len()));
            }
            out
        }
    }

    /// A minimal ELF file: the header, one `PT_LOAD` mapping the whole file
    /// at `vaddr`, then `payload` at file offset 128.
    pub(crate) fn synthetic_elf(
        is_64: bool,
        big_endian: bool,
        e_machine: u16,
        vaddr: u64,
        payload: &[u8],
    ) -> Vec<u8> {
        const PAYLOAD_AT: u64 = 128;
        let mut out = Vec::new();
        let put = |out: &mut Vec<u8>, value: u64, size: usize| {
            let bytes = value.to_be_bytes();
            let mut field = bytes[8 - size..].to_vec();
            if !big_endian {
                field.reverse();
            }
            out.extend_from_slice(&field);
        };
        let word = if is_64 { 8 } else { 4 };
        let total = PAYLOAD_AT + payload.len() as u64;
        out.extend_from_slice(&ELFMAG);
        out.extend_from_slice(&[if is_64 { 2 } else { 1 }, if big_endian { 2 } else { 1 }, 1]);
        out.resize(16, 0);
        put(&mut out, u64::from(ET_EXEC), 2);
        put(&mut out, u64::from(e_machine), 2);
        put(&mut out, 1, 4); // e_version
        put(&mut out, vaddr + PAYLOAD_AT, word); // e_entry
        let phoff = if is_64 { 64 } else { 52 };
        put(&mut out, phoff, word); // e_phoff
        put(&mut out, 0, word); // e_shoff
        put(&mut out, 0, 4); // e_flags
        put(&mut out, phoff, 2); // e_ehsize
        put(&mut out, if is_64 { 56 } else { 32 }, 2); // e_phentsize
        put(&mut out, 1, 2); // e_phnum
        put(&mut out, 0, 6); // e_shentsize, e_shnum, e_shstrndx
        put(&mut out, u64::from(PT_LOAD), 4);
        if is_64 {
            put(&mut out, 5, 4); // p_flags
        }
        put(&mut out, 0, word); // p_offset
        put(&mut out, vaddr, word); // p_vaddr
        put(&mut out, vaddr, word); // p_paddr
        put(&mut out, total, word); // p_filesz
        put(&mut out, total, word); // p_memsz
        if !is_64 {
            put(&mut out, 5, 4); // p_flags
        }
        put(&mut out, 0x1000, word); // p_align
        out.resize(PAYLOAD_AT as usize, 0);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn dynamic_glibc_hello_needs_its_loader_and_libc() {
        let i = info(HELLO_DYN);
        assert_eq!(i.class, 64);
        assert_eq!(i.machine, "amd64");
        assert_eq!(i.kind, ElfKind::PositionIndependent);
        assert_eq!(
            i.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(i.needed, vec!["libc.so.6".to_string()]);
        assert!(!i.static_linked);
        assert!(i.stripped);
        assert!(!i.big_endian);
    }

    #[test]
    fn nostdlib_static_executable_is_static() {
        let i = info(STATIC);
        assert_eq!(i.kind, ElfKind::Executable);
        assert_eq!(i.interpreter, None);
        assert!(i.needed.is_empty());
        assert!(i.static_linked);
        assert!(i.stripped);
    }

    #[test]
    fn symtab_means_not_stripped() {
        let i = info(STATIC_SYMBOLS);
        assert!(!i.stripped);
        assert!(i.static_linked);
    }

    #[test]
    fn static_pie_is_position_independent_and_static() {
        let i = info(STATIC_PIE);
        assert_eq!(i.kind, ElfKind::PositionIndependent);
        assert!(i.static_linked);
        assert!(i.needed.is_empty());
    }

    #[test]
    fn i386_static_is_32_bit_386() {
        let i = info(STATIC_I386);
        assert_eq!((i.class, i.machine.as_str()), (32, "386"));
        assert!(i.static_linked);
        assert!(oci_arch_matches(&i, "386", None));
        assert!(oci_arch_matches(&i, "i686", None));
        assert!(!oci_arch_matches(&i, "amd64", None));
    }

    #[test]
    fn arch_matching_uses_oci_names_and_aliases() {
        let amd64 = info(STATIC);
        assert!(oci_arch_matches(&amd64, "amd64", None));
        assert!(oci_arch_matches(&amd64, "amd64", Some("v3")));
        assert!(oci_arch_matches(&amd64, "x86_64", None));
        assert!(!oci_arch_matches(&amd64, "arm64", None));
        assert!(!oci_arch_matches(&amd64, "386", None));

        let arm64 = info(&with_machine(STATIC, EM_AARCH64));
        assert_eq!(arm64.machine, "arm64");
        assert!(oci_arch_matches(&arm64, "arm64", Some("v8")));
        assert!(oci_arch_matches(&arm64, "aarch64", None));
        assert!(!oci_arch_matches(&arm64, "arm", None));

        let arm = info(&with_machine(STATIC_I386, EM_ARM));
        assert_eq!(arm.machine, "arm");
        for variant in [None, Some("v5"), Some("v6"), Some("v7")] {
            assert!(oci_arch_matches(&arm, "arm", variant));
        }
        assert!(!oci_arch_matches(&arm, "arm64", None));

        let unknown = info(&with_machine(STATIC, 0x1234));
        assert_eq!(unknown.machine, "unknown(4660)");
        assert!(!oci_arch_matches(&unknown, "amd64", None));
    }

    fn with_machine(data: &[u8], e_machine: u16) -> Vec<u8> {
        let mut out = data.to_vec();
        out[18..20].copy_from_slice(&e_machine.to_le_bytes());
        out
    }

    #[test]
    fn machine_names_follow_class_and_byte_order() {
        let cases = [
            (EM_PPC64, true, false, "ppc64le"),
            (EM_PPC64, true, true, "ppc64"),
            (EM_S390, true, true, "s390x"),
            (EM_RISCV, true, false, "riscv64"),
            (EM_MIPS, true, false, "mips64le"),
            (EM_MIPS, false, true, "mips"),
            (EM_LOONGARCH, true, false, "loong64"),
            (EM_X86_64, false, false, "amd64p32"),
            (EM_386, false, true, "unknown(3)"),
        ];
        for (machine, is_64, big, want) in cases {
            assert_eq!(machine_name(machine, is_64, big), want);
        }
    }

    #[test]
    fn big_endian_and_32_bit_synthetic_files_parse() {
        let be = info(&synthetic_elf(true, true, EM_S390, 0x1000000, b"payload"));
        assert_eq!(
            (be.class, be.machine.as_str(), be.big_endian),
            (64, "s390x", true)
        );
        assert!(be.static_linked && be.stripped);
        let mips = info(&synthetic_elf(false, true, EM_MIPS, 0x400000, b"payload"));
        assert_eq!((mips.class, mips.machine.as_str()), (32, "mips"));
        assert!(oci_arch_matches(&mips, "mips", None));
    }

    #[test]
    fn non_elf_is_none() {
        for data in [&b""[..], b"\x7fEL", b"#!/bin/sh\necho hi\n", b"MZ\x90\x00"] {
            assert_eq!(inspect(data).unwrap(), None);
        }
        assert!(!is_elf(b"\x7fEL"));
        assert!(is_elf(STATIC));
    }

    #[test]
    fn truncated_files_are_one_line_errors() {
        for sample in SAMPLES {
            for len in [5, 16, 40, 100, 1000, sample.len() - 1] {
                if len >= sample.len() {
                    continue;
                }
                match inspect(&sample[..len]) {
                    Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
                    Ok(i) => panic!("{len} bytes of a sample parsed as {i:?}"),
                }
            }
        }
        let err = inspect(&HELLO_DYN[..1000]).unwrap_err().to_string();
        assert!(
            err.starts_with("truncated ELF") || err.starts_with("malformed ELF"),
            "{err}"
        );
    }

    #[test]
    fn misaligned_input_reads_the_same() {
        for sample in SAMPLES {
            let mut shifted = vec![0u8; sample.len() + 1];
            shifted[1..].copy_from_slice(sample);
            assert_eq!(inspect(&shifted[1..]).unwrap(), inspect(sample).unwrap());
        }
    }

    #[test]
    fn garbage_after_the_magic_never_panics() {
        let mut rng = XorShift(0x5eed_e1f0);
        for len in 0..600 {
            let mut data = ELFMAG.to_vec();
            data.extend((0..len).map(|_| rng.next() as u8));
            if len > 2 {
                data[EI_CLASS] = 1 + (len % 2) as u8; // a valid class
                data[5] = 1 + (len / 2 % 2) as u8; // a valid byte order
                data[6] = 1;
            }
            if let Err(e) = inspect(&data) {
                assert!(!e.to_string().contains('\n'));
            }
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        let mut rng = XorShift(0x0123_4567_89ab_cdef);
        for round in 0..4000 {
            let sample = SAMPLES[round % SAMPLES.len()];
            let data = rng.mutate(sample);
            if let Err(e) = inspect(&data) {
                assert!(!e.to_string().contains('\n'), "{e}");
            }
            let _ = address_map(&data);
        }
    }

    #[test]
    fn address_map_reads_only_file_backed_bytes() {
        let elf = synthetic_elf(true, false, EM_X86_64, 0x400000, b"0123456789");
        let map = address_map(&elf).expect("ELF");
        assert_eq!(map.read(&elf, 0x400000 + 128, 4), Some(&b"0123"[..]));
        assert_eq!(map.read(&elf, 0x400000 + 136, 2), Some(&b"89"[..]));
        assert_eq!(map.read(&elf, 0x400000 + 136, 3), None);
        assert_eq!(map.read(&elf, 0x3fffff, 1), None);
        assert_eq!(map.read(&elf, u64::MAX, 2), None);
        assert!(address_map(b"not elf").is_none());
    }

    type Le = object::LittleEndian;

    /// A program header mapping file bytes `offset..offset + size` at the
    /// same virtual address.
    pub(crate) fn phdr(p_type: u32, offset: u64, size: u64) -> ProgramHeader64<Le> {
        let word = |v: u64| U64::new(Le {}, v);
        ProgramHeader64 {
            p_type: U32::new(Le {}, p_type),
            p_flags: U32::new(Le {}, 0),
            p_offset: word(offset),
            p_vaddr: word(offset),
            p_paddr: word(offset),
            p_filesz: word(size),
            p_memsz: word(size),
            p_align: word(8),
        }
    }

    /// A little-endian ELF64 x86-64 file: the header, `phdrs` right after it
    /// (at 64), then `rest`.
    pub(crate) fn elf64(e_type: u16, phdrs: &[ProgramHeader64<Le>], rest: &[u8]) -> Vec<u8> {
        let half = |v: u16| U16::new(Le {}, v);
        let header = FileHeader64::<Le> {
            e_ident: Ident {
                magic: ELFMAG,
                class: ELFCLASS64,
                data: ELFDATA2LSB,
                version: EV_CURRENT,
                os_abi: 0,
                abi_version: 0,
                padding: [0; 7],
            },
            e_type: half(e_type),
            e_machine: half(EM_X86_64),
            e_version: U32::new(Le {}, u32::from(EV_CURRENT)),
            e_entry: U64::new(Le {}, 0),
            e_phoff: U64::new(Le {}, 64),
            e_shoff: U64::new(Le {}, 0),
            e_flags: U32::new(Le {}, 0),
            e_ehsize: half(64),
            e_phentsize: half(56),
            e_phnum: half(phdrs.len() as u16),
            e_shentsize: half(64),
            e_shnum: half(0),
            e_shstrndx: half(0),
        };
        let mut out = bytes_of(&header).to_vec();
        out.extend_from_slice(bytes_of_slice(phdrs));
        out.extend_from_slice(rest);
        out
    }

    /// A PT_LOAD mapping the whole file and a PT_DYNAMIC with `DT_STRTAB`,
    /// `DT_STRSZ` and `count` `DT_NEEDED` entries, all naming offset 0 of a
    /// string table holding `name`.
    fn needs_one_name(count: usize, name: &[u8]) -> Vec<u8> {
        let dyn_off = 64 + 2 * 56;
        let dyn_len = (3 + count) * 16;
        let str_off = dyn_off + dyn_len;
        let total = str_off + name.len() + 1;
        let entry = |tag: i64, val: u64| Dyn64::<Le> {
            d_tag: I64::new(Le {}, tag),
            d_val: U64::new(Le {}, val),
        };
        let mut dynamic = vec![
            entry(DT_STRTAB, str_off as u64),
            entry(DT_STRSZ, name.len() as u64 + 1),
        ];
        dynamic.extend(std::iter::repeat_n(entry(DT_NEEDED, 0), count));
        dynamic.push(entry(DT_NULL, 0));
        let mut rest = bytes_of_slice(&dynamic).to_vec();
        rest.extend_from_slice(name);
        rest.push(0);
        let load = phdr(PT_LOAD, 0, total as u64);
        let dynamic = phdr(PT_DYNAMIC, dyn_off as u64, dyn_len as u64);
        elf64(ET_DYN, &[load, dynamic], &rest)
    }

    /// Regression (found reviewing the fuzz targets, confirmed as an OOM with
    /// the `elf` fuzz binary): 32000 `DT_NEEDED` entries naming one 480 KB
    /// string made a 1 MB file allocate 15 GB of names.
    #[test]
    fn needed_names_are_bounded_in_all() {
        let info = inspect(&needs_one_name(3, b"libc.so.6")).unwrap().unwrap();
        assert_eq!(info.needed, vec!["libc.so.6"; 3]);
        let err = inspect(&needs_one_name(32, &[b'a'; 4096])).unwrap_err();
        assert!(err.to_string().contains("DT_NEEDED names add up"), "{err}");
    }
}
