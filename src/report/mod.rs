//! Rendering the report: text for people, JSON for machines.

pub mod junit;
pub mod markdown;
mod model;
pub mod sarif;
mod text;

pub use model::*;
pub use text::render_text;

pub fn render_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("report serializes");
    s.push('\n');
    s
}
