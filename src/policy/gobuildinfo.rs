//! (being written by another engineer: placeholder signatures so the crate builds)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GoBuildInfo {
    pub go_version: String,
    pub path: Option<String>,
}
impl GoBuildInfo {
    pub fn ldflags(&self) -> Option<&str> {
        None
    }
    pub fn cgo_enabled(&self) -> Option<bool> {
        None
    }
    pub fn trimpath(&self) -> bool {
        false
    }
    pub fn vcs_modified(&self) -> Option<bool> {
        None
    }
}
pub fn parse(_data: &[u8]) -> Option<GoBuildInfo> {
    None
}
pub fn ldflags_x_values(_ldflags: &str) -> Vec<(String, String)> {
    vec![]
}
