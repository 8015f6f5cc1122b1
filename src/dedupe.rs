//! One finding per secret: the same secret matched again by the same rule
//! counts as one more occurrence; matched by a more severe rule, that rule
//! takes over (a Stripe key is not also reported as a "generic password").

use crate::rules::RuleSet;

pub trait SecretHit {
    fn rule(&self) -> usize;
    fn fingerprint(&self) -> &str;
    fn bump(&mut self);
}

/// Adds `new` to `list[from..]` unless that part already holds its secret.
pub fn record<T: SecretHit>(rules: &RuleSet, list: &mut Vec<T>, from: usize, new: T) {
    if let Some(h) = list[from..]
        .iter_mut()
        .find(|h| h.fingerprint() == new.fingerprint())
    {
        if h.rule() == new.rule() {
            h.bump();
        } else if rules.rule(new.rule()).def.severity > rules.rule(h.rule()).def.severity {
            *h = new;
        }
        return;
    }
    list.push(new);
}
