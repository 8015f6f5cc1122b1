//! Listing a registry: repositories (`/v2/_catalog`) and each repository's
//! tags (`/v2/NAME/tags/list`), following `Link: <...>; rel="next"` pages.

use super::client::{error_text, pull_scope, Client, CATALOG_SCOPE};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::HashSet;

/// At most this many pages of one listing (a loop guard).
const MAX_PAGES: usize = 100_000;

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

/// Fetches every page of a listing; `items` takes one page's body.
fn pages(
    client: &Client,
    first: String,
    scope: &str,
    what: &str,
    items: impl Fn(&[u8]) -> Result<Vec<String>>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(first);
    let mut seen = HashSet::new();
    while let Some(path) = next.take() {
        if !seen.insert(path.clone()) || seen.len() > MAX_PAGES {
            bail!("{what}: the registry's pages loop ({path})");
        }
        let mut resp = client.get(&path, scope, Some("application/json"))?;
        match resp.status().as_u16() {
            200 => {}
            s => bail!("{what}: HTTP {s} {}", error_text(&mut resp)),
        }
        next = resp
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        let body = resp
            .body_mut()
            .with_config()
            .limit(crate::image::container::MAX_JSON)
            .read_to_vec()
            .with_context(|| format!("{what}: read failed"))?;
        out.extend(items(&body).with_context(|| format!("{what}: malformed reply"))?);
    }
    Ok(out)
}

/// Every repository in the registry's catalog, sorted.
pub fn repositories(client: &Client, page_size: usize) -> Result<Vec<String>> {
    let mut repos = pages(
        client,
        format!("/v2/_catalog?n={page_size}"),
        CATALOG_SCOPE,
        &format!("{}: catalog", client.host),
        |b| {
            Ok(serde_json::from_slice::<CatalogPage>(b)?
                .repositories
                .unwrap_or_default())
        },
    )?;
    repos.sort();
    repos.dedup();
    Ok(repos)
}

/// Every tag of a repository, sorted.
pub fn tags(client: &Client, repository: &str, page_size: usize) -> Result<Vec<String>> {
    let mut tags = pages(
        client,
        format!("/v2/{repository}/tags/list?n={page_size}"),
        &pull_scope(repository),
        &format!("{}/{repository}: tags", client.host),
        |b| {
            Ok(serde_json::from_slice::<TagsPage>(b)?
                .tags
                .unwrap_or_default())
        },
    )?;
    tags.sort();
    tags.dedup();
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r.io/v2/x>; rel="prev", <https://r.io/v2/y?last=z>; rel=next"#)
                .as_deref(),
            Some("https://r.io/v2/y?last=z")
        );
        assert_eq!(next_link(r#"</v2/x>; rel="prev""#), None);
    }
}
