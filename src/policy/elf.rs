//! (being written by another engineer: placeholder signatures so the crate builds)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ElfInfo {
    pub class: u8,
    pub machine: String,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub static_linked: bool,
    pub stripped: bool,
    pub big_endian: bool,
}
pub fn inspect(_data: &[u8]) -> anyhow::Result<Option<ElfInfo>> {
    Ok(None)
}
pub fn oci_arch_matches(_info: &ElfInfo, _architecture: &str, _variant: Option<&str>) -> bool {
    true
}
