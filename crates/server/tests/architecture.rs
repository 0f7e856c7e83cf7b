//! The layering of docs/architecture.md, checked on the source: imports
//! run one way (adapters → domain → store and engine), and no module of an
//! adapter imports a module that imports it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn module_of(p: &Path) -> String {
    let rel = p.strip_prefix(src()).unwrap().with_extension("");
    let rel = rel.to_string_lossy().replace('\\', "/");
    rel.trim_end_matches("/mod").to_string()
}

/// Which of `forbidden` each file under `files` mentions.
fn violations(files: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let c = code(f);
        for word in forbidden {
            if c.contains(word) {
                out.push(format!("{} uses {word}", module_of(f)));
            }
        }
    }
    out
}

#[test]
fn the_domain_and_the_foundation_know_no_http_and_no_adapter() {
    let lower: Vec<PathBuf> = sources(&src())
        .into_iter()
        .filter(|p| {
            let m = module_of(p);
            m.starts_with("domain")
                || ["error", "input", "time", "ids", "links", "metrics"].contains(&m.as_str())
        })
        .collect();
    assert!(lower.len() >= 8, "found {} lower-layer files", lower.len());
    let v = violations(
        &lower,
        &[
            "axum",
            "tower",
            "crate::api",
            "crate::pages",
            "crate::http",
            "crate::auth",
            "crate::ratelimit",
            "crate::notifications",
        ],
    );
    assert!(v.is_empty(), "lower layers import upward: {v:#?}");
}

#[test]
fn the_adapters_do_not_import_each_other() {
    let all = sources(&src());
    let api: Vec<PathBuf> = all
        .iter()
        .filter(|p| module_of(p).starts_with("api"))
        .cloned()
        .collect();
    let pages: Vec<PathBuf> = all
        .iter()
        .filter(|p| module_of(p).starts_with("pages"))
        .cloned()
        .collect();
    let worker: Vec<PathBuf> = all
        .iter()
        .filter(|p| module_of(p) == "notifications")
        .cloned()
        .collect();
    let mut v = violations(&api, &["crate::pages"]);
    v.extend(violations(&pages, &["crate::api"]));
    v.extend(violations(&worker, &["crate::api", "crate::pages"]));
    assert!(v.is_empty(), "adapters import each other: {v:#?}");
}

#[test]
fn no_two_modules_import_each_other() {
    // Edges between sibling modules of one folder: `super::x` and
    // `crate::folder::x` both count.
    let all = sources(&src());
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let names: BTreeSet<String> = all.iter().map(|p| module_of(p)).collect();
    for f in &all {
        let m = module_of(f);
        let parent = m
            .rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        let c = code(f);
        for other in &names {
            if other == &m || other.starts_with(&format!("{m}/")) {
                continue;
            }
            let leaf = other.rsplit('/').next().unwrap();
            let other_parent = other
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default();
            let via_super = other_parent == parent && c.contains(&format!("super::{leaf}"));
            let via_crate = c.contains(&format!("crate::{}", other.replace('/', "::")));
            if via_super || via_crate {
                edges.entry(m.clone()).or_default().insert(other.clone());
            }
        }
    }
    let mut cycles = Vec::new();
    for (a, outs) in &edges {
        for b in outs {
            // `a` may import its parent's items (`crate::api` from
            // `api/x`); only sibling-or-unrelated pairs count.
            if a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/")) {
                continue;
            }
            if edges.get(b).is_some_and(|o| o.contains(a)) && a < b {
                cycles.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_store_and_the_engine_stay_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let store = sources(&root.join("store/src"));
    let engine = sources(&root.join("engine/src"));
    let mut v = violations(&store, &["convene_server", "axum"]);
    v.extend(violations(
        &engine,
        &["convene_store", "convene_server", "sqlx", "tokio"],
    ));
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn every_api_route_is_documented() {
    // The JSON API registers routes only through utoipa's `routes!`, which
    // puts each into /openapi.json; a plain `.route(` would serve it
    // undocumented.
    let api: Vec<PathBuf> = sources(&src())
        .into_iter()
        .filter(|p| module_of(p).starts_with("api"))
        .collect();
    let v = violations(&api, &[".route("]);
    assert!(v.is_empty(), "undocumented routes: {v:#?}");
}
