//! Applies layers in order (whiteouts, opaque directories, replacement) to get
//! the final filesystem, and tells for any file of any layer whether it is
//! still there, was deleted by a later layer, or was overwritten.

use crate::layer::{EntryKind, FileEntry, LayerScan};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In the final filesystem.
    Present,
    /// Hidden by a later whiteout or opaque directory: still in the tarball.
    Deleted,
    /// Replaced by a later layer's file at the same path.
    Overwritten,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Present => "present",
            State::Deleted => "deleted",
            State::Overwritten => "overwritten",
        }
    }
}

/// The final filesystem: each path with the layer (and entry) that provides it.
pub struct FinalTree {
    files: BTreeMap<String, (usize, usize)>,
    /// Final hard links by (layer, target): the first link path in path order.
    links: HashMap<(usize, String), String>,
}

/// Removes `dir` and everything below it.
fn remove_tree(files: &mut BTreeMap<String, (usize, usize)>, dir: &str, keep_dir: bool) {
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    let below: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in below {
        files.remove(&k);
    }
    if !keep_dir {
        files.remove(dir);
    }
}

impl FinalTree {
    pub fn build(layers: &[&LayerScan]) -> FinalTree {
        let mut files = BTreeMap::new();
        for (li, layer) in layers.iter().enumerate() {
            // A layer's whiteouts hide only what lower layers put there, so
            // they are applied before the layer's own entries.
            for e in &layer.entries {
                match e.kind {
                    EntryKind::Opaque => remove_tree(&mut files, &e.path, true),
                    EntryKind::Whiteout => remove_tree(&mut files, &e.path, false),
                    _ => {}
                }
            }
            for (ei, e) in layer.entries.iter().enumerate() {
                if matches!(e.kind, EntryKind::Opaque | EntryKind::Whiteout) {
                    continue;
                }
                if e.kind != EntryKind::Dir {
                    // A file replacing a directory takes its contents with it.
                    if files
                        .get(&e.path)
                        .is_some_and(|&(l, i)| layers[l].entries[i].kind == EntryKind::Dir)
                    {
                        remove_tree(&mut files, &e.path, true);
                    }
                }
                files.insert(e.path.clone(), (li, ei));
            }
        }
        let mut links = HashMap::new();
        for (path, &(l, i)) in &files {
            let e = &layers[l].entries[i];
            if let (EntryKind::Hardlink, Some(target)) = (e.kind, &e.link) {
                links
                    .entry((l, target.clone()))
                    .or_insert_with(|| path.clone());
            }
        }
        FinalTree { files, links }
    }

    /// Where entry `entry` of layer `layer` (at `path`) stands in the final
    /// image. A path written twice in one layer keeps the last copy.
    pub fn state(&self, layer: usize, entry: usize, path: &str) -> State {
        match self.files.get(path) {
            Some(&(l, e)) if l == layer && e == entry => State::Present,
            Some(&(l, e)) if l > layer || (l == layer && e > entry) => State::Overwritten,
            _ => State::Deleted,
        }
    }

    /// A final-filesystem hard link to `path` as layer `layer` wrote it: the
    /// file's bytes are still there under that name even when `path` is gone.
    pub fn hard_link_to(&self, layer: usize, path: &str) -> Option<&str> {
        self.links
            .get(&(layer, path.to_string()))
            .map(String::as_str)
    }

    /// The layer and entry that provide `path` in the final filesystem.
    pub fn get(&self, path: &str) -> Option<(usize, usize)> {
        self.files.get(path).copied()
    }

    /// Every path of the final filesystem with the layer index and entry.
    pub fn iter<'a>(
        &'a self,
        layers: &'a [&'a LayerScan],
    ) -> impl Iterator<Item = (usize, &'a FileEntry)> + 'a {
        self.files
            .values()
            .map(move |&(l, i)| (l, &layers[l].entries[i]))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind) -> FileEntry {
        FileEntry {
            path: path.into(),
            size: 1,
            mode: 0o644,
            kind,
            link: None,
            residue: None,
        }
    }

    fn layer(entries: Vec<FileEntry>) -> LayerScan {
        LayerScan {
            entries,
            hits: vec![],
            captured: Default::default(),
            known: vec![],
            compression: "none",
            digest: String::new(),
            diff_id: String::new(),
            size: 0,
        }
    }

    #[test]
    fn whiteout_deletes_and_later_write_overwrites() {
        let l0 = layer(vec![
            entry("/app", EntryKind::Dir),
            entry("/app/key.pem", EntryKind::File),
            entry("/app/a", EntryKind::File),
            entry("/etc/conf", EntryKind::File),
        ]);
        let l1 = layer(vec![
            entry("/app/key.pem", EntryKind::Whiteout),
            entry("/etc/conf", EntryKind::File),
        ]);
        let layers = [&l0, &l1];
        let t = FinalTree::build(&layers);
        assert_eq!(t.state(0, 1, "/app/key.pem"), State::Deleted);
        assert_eq!(t.state(0, 2, "/app/a"), State::Present);
        assert_eq!(t.state(0, 3, "/etc/conf"), State::Overwritten);
        assert_eq!(t.state(1, 1, "/etc/conf"), State::Present);
    }

    #[test]
    fn opaque_dir_hides_lower_layers_but_not_its_own() {
        let l0 = layer(vec![entry("/d/old", EntryKind::File)]);
        // The opaque marker may come after the layer's own entries.
        let l1 = layer(vec![
            entry("/d/new", EntryKind::File),
            entry("/d", EntryKind::Opaque),
        ]);
        let layers = [&l0, &l1];
        let t = FinalTree::build(&layers);
        assert_eq!(t.state(0, 0, "/d/old"), State::Deleted);
        assert_eq!(t.state(1, 0, "/d/new"), State::Present);
    }

    #[test]
    fn whiteout_of_directory_removes_its_contents() {
        let l0 = layer(vec![
            entry("/src", EntryKind::Dir),
            entry("/src/.git/config", EntryKind::File),
        ]);
        let l1 = layer(vec![entry("/src", EntryKind::Whiteout)]);
        let layers = [&l0, &l1];
        let t = FinalTree::build(&layers);
        assert_eq!(t.state(0, 1, "/src/.git/config"), State::Deleted);
        assert!(t.is_empty());
    }
}
