//! One finding per secret: the same secret matched again by the same rule
//! counts as one more occurrence; matched by a more severe rule, that rule
//! takes over (a Stripe key is not also reported as a "generic password").

use crate::rules::RuleSet;
use std::collections::HashMap;

pub trait SecretHit {
    fn rule(&self) -> usize;
    fn fingerprint(&self) -> &str;
    fn bump(&mut self);
}

/// Where each secret of one file (or config) sits in the list: by
/// fingerprint, so a file with many distinct secrets is linear, not quadratic.
pub type Seen = HashMap<String, usize>;

/// Adds `new` to `list` unless `seen` (the secrets recorded since it was
/// empty) already holds its secret.
pub fn record<T: SecretHit>(rules: &RuleSet, list: &mut Vec<T>, seen: &mut Seen, new: T) {
    if let Some(&i) = seen.get(new.fingerprint()) {
        let h = &mut list[i];
        if h.rule() == new.rule() {
            h.bump();
        } else if rules.rule(new.rule()).def.severity > rules.rule(h.rule()).def.severity {
            *h = new;
        }
        return;
    }
    seen.insert(new.fingerprint().to_string(), list.len());
    list.push(new);
}
