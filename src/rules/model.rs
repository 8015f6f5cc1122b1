//! The rule file format (TOML, `[[rule]]` tables): see README, "Rules".

use crate::severity::Severity;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// Content that is a secret wherever it sits.
    Secret,
    /// A file that is a credential by its path.
    SecretPath,
    /// Build leftovers, reported per kind and layer.
    Residue,
    /// A secret-looking value under a secret-looking name in the image
    /// config (ENV, labels, build args in history).
    Config,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Secret => "secret",
            RuleKind::SecretPath => "secret-path",
            RuleKind::Residue => "residue",
            RuleKind::Config => "config",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub rule: Vec<RuleDef>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub id: String,
    pub name: String,
    pub kind: RuleKind,
    pub severity: Severity,
    pub description: String,
    pub remediation: String,
    #[serde(default)]
    pub references: Vec<String>,
    /// Literal prefilter (ASCII case-insensitive): `secret` rules only run
    /// where one of these occurs.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `secret`: the content regex; `config`: a regex the value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `secret`: only files whose path matches; `secret-path`/`residue`: the
    /// path regex itself.
    #[serde(default)]
    pub path: Option<String>,
    /// `config`: a regex on the variable, label or build-arg name.
    #[serde(default)]
    pub name_pattern: Option<String>,
    #[serde(default)]
    pub min_entropy: Option<f64>,
    /// Secrets matching any of these are dropped (placeholders).
    #[serde(default)]
    pub allow: Vec<String>,
    pub examples: Vec<String>,
    pub negative_examples: Vec<String>,
    /// The file path a path-restricted `secret` rule's examples are matched under.
    #[serde(default)]
    pub example_path: Option<String>,
}
