//! The final filesystem as the policy checks see it: lookups that follow
//! symlinks inside the image, and file contents (kept by the layer scan, or
//! read back from the layer on demand).

use crate::layer::{EntryKind, FileEntry, LayerScan};
use crate::merge::FinalTree;
use anyhow::{bail, Result};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Reads the given paths out of layer `index` (the second, targeted pass).
pub type Fetch<'a> =
    dyn Fn(usize, &HashSet<String>) -> Result<HashMap<String, Vec<u8>>> + Sync + 'a;

pub struct FinalFs<'a> {
    pub tree: &'a FinalTree,
    pub layers: &'a [&'a LayerScan],
    fetch: &'a Fetch<'a>,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

const MAX_HOPS: usize = 40;

/// `target` of a symlink at `link`, as an absolute normalised path.
fn join_link(link: &str, target: &str) -> String {
    let base = if target.starts_with('/') {
        String::new()
    } else {
        link.rsplit_once('/')
            .map(|(d, _)| d)
            .unwrap_or("")
            .to_string()
    };
    normalize(&format!("{base}/{target}"))
}

/// Lexically normalised absolute path (`.`, `..`, `//` resolved).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

impl<'a> FinalFs<'a> {
    pub fn new(tree: &'a FinalTree, layers: &'a [&'a LayerScan], fetch: &'a Fetch<'a>) -> Self {
        FinalFs {
            tree,
            layers,
            fetch,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The entry at exactly `path` (no symlink following).
    pub fn entry(&self, path: &str) -> Option<(usize, &'a FileEntry)> {
        self.tree
            .get(path)
            .map(|(l, i)| (l, &self.layers[l].entries[i]))
    }

    /// Follows symlinks in every component of `path` (and hard links at the
    /// end), the way the kernel would inside the container.
    pub fn resolve(&self, path: &str) -> Result<String> {
        let mut pending: Vec<String> = normalize(path)
            .split('/')
            .filter(|p| !p.is_empty())
            .rev()
            .map(String::from)
            .collect();
        let mut current = String::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            let candidate = format!("{current}/{part}");
            match self.entry(&candidate) {
                Some((_, e)) if e.kind == EntryKind::Symlink => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        bail!("{path}: too many levels of symbolic links");
                    }
                    let target = join_link(&candidate, e.link.as_deref().unwrap_or(""));
                    for p in target.split('/').filter(|p| !p.is_empty()).rev() {
                        pending.push(p.to_string());
                    }
                    current.clear();
                }
                Some((_, e)) if e.kind == EntryKind::Hardlink && pending.is_empty() => {
                    current = normalize(e.link.as_deref().unwrap_or(""));
                }
                _ => current = candidate,
            }
        }
        Ok(if current.is_empty() {
            "/".into()
        } else {
            current
        })
    }

    /// The entry `path` leads to after following links, if it exists.
    pub fn lookup(&self, path: &str) -> Option<(String, usize, &'a FileEntry)> {
        let real = self.resolve(path).ok()?;
        self.entry(&real).map(|(l, e)| (real, l, e))
    }

    /// The contents of the regular file `path` leads to.
    pub fn read(&self, path: &str) -> Result<Option<Arc<Vec<u8>>>> {
        let Some((real, layer, e)) = self.lookup(path) else {
            return Ok(None);
        };
        if e.kind != EntryKind::File {
            return Ok(None);
        }
        if let Some(data) = self.cache.lock().expect("no panic holds it").get(&real) {
            return Ok(Some(data.clone()));
        }
        let data = match self.layers[layer].captured.get(&real) {
            Some(d) => d.clone(),
            None => {
                let want = HashSet::from([real.clone()]);
                match (self.fetch)(layer, &want)?.remove(&real) {
                    Some(d) => d,
                    None => return Ok(None),
                }
            }
        };
        let data = Arc::new(data);
        self.cache
            .lock()
            .expect("no panic holds it")
            .insert(real, data.clone());
        Ok(Some(data))
    }

    /// Every regular file (and hard link) of the final filesystem.
    pub fn files(&self) -> impl Iterator<Item = (usize, &'a FileEntry)> + '_ {
        self.tree
            .iter(self.layers)
            .filter(|(_, e)| matches!(e.kind, EntryKind::File | EntryKind::Hardlink))
    }
}
