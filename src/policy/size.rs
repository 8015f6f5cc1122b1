//! `size-budget`: the image fits the budget; when it does not, where the
//! bytes are (per layer, largest files, bytes wasted on files that later
//! layers deleted or replaced, as dive counts them).

use super::{human, outcome, Context, SizeBasis, Status};
use crate::layer::EntryKind;
use crate::report::PolicyResult;
use serde_json::json;

pub fn check(ctx: &Context) -> PolicyResult {
    let uncompressed: u64 = ctx.layers.iter().map(|l| l.size).sum();
    let compressed: u64 = ctx.layer_refs.iter().map(|l| l.compressed_size).sum();
    // Bytes of files that are not in the final filesystem: every file
    // written, less those the final tree still points at (no path lookups).
    let written: u64 = ctx
        .layers
        .iter()
        .flat_map(|l| &l.entries)
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| e.size)
        .sum();
    let kept: u64 = ctx
        .fs
        .tree
        .iter(ctx.layers)
        .filter(|(_, e)| e.kind == EntryKind::File)
        .map(|(_, e)| e.size)
        .sum();
    let wasted = written - kept;
    let (basis, measured) = match ctx.opts.size_basis {
        SizeBasis::Uncompressed => ("uncompressed", uncompressed),
        SizeBasis::Compressed => ("compressed", compressed),
    };
    let limit = &ctx.opts.max_size;
    let over = measured > limit.bytes;
    let message = format!(
        "{basis} size {} ({measured} bytes) {} the {} budget; compressed {}, uncompressed {}{}",
        human(measured),
        if over { "exceeds" } else { "is within" },
        limit.shown,
        human(compressed),
        human(uncompressed),
        if wasted > 0 {
            format!(
                ", {} wasted on files deleted or replaced by later layers",
                human(wasted)
            )
        } else {
            String::new()
        }
    );
    let details = if over {
        where_the_bytes_are(ctx, wasted)
    } else {
        vec![]
    };
    outcome(
        "size-budget",
        if over { Status::Fail } else { Status::Pass },
        json!({"basis": basis, "bytes": measured, "compressed": compressed, "uncompressed": uncompressed, "wasted": wasted}),
        json!({"bytes": limit.bytes, "given": limit.shown}),
        message,
        details,
    )
}

fn where_the_bytes_are(ctx: &Context, wasted: u64) -> Vec<String> {
    let mut out = Vec::new();
    let history = ctx.config.layer_history();
    let mut layers: Vec<(usize, u64)> = ctx.layers.iter().map(|l| l.size).enumerate().collect();
    layers.sort_by_key(|l| std::cmp::Reverse(l.1));
    for (i, size) in layers.iter().take(5) {
        let created = history
            .get(*i)
            .cloned()
            .flatten()
            .map(|(_, c)| c)
            .unwrap_or_default();
        let created: String = created.chars().take(90).collect();
        out.push(format!("layer {i}: {} — {created}", human(*size)));
    }
    let mut files: Vec<(u64, &str)> = ctx
        .fs
        .files()
        .map(|(_, e)| (e.size, e.path.as_str()))
        .collect();
    let largest = |a: &(u64, &str), b: &(u64, &str)| b.0.cmp(&a.0).then(a.1.cmp(b.1));
    if files.len() > 10 {
        files.select_nth_unstable_by(10, largest);
        files.truncate(10);
    }
    files.sort_by(largest);
    for (size, path) in &files {
        out.push(format!("file {path}: {}", human(*size)));
    }
    if wasted > 0 {
        out.push(format!(
            "wasted: {} in files deleted or overwritten by later layers (squash or multi-stage to reclaim)",
            human(wasted)
        ));
    }
    out
}
