//! `eprun import` and `eprun migrate terraform`: record resources that already exist (made by
//! hand or by Terraform) under the stack's declarations, without touching the cloud.

use super::exit;
use super::stack::{Loaded, Mode, load};
use crate::address::Address;
use crate::aws::Aws;
use crate::cli::Global;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::migration::{self, Candidate, Migration, Unmatched};
use crate::planner::Found;
use crate::resource;
use crate::state::ResourceState;
use crate::style::print_json;
use crate::terraform_state::{self, Instance};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `eprun import FILE ADDR ID`: records the existing resource `id` as the declared `addr`.
pub async fn import(file: &Path, addr: &str, id: &str, g: &Global) -> Result<u8> {
    let (_e, mut l) = load(file, g, Mode::Adopt, false).await?;
    let address: Address = addr.parse().map_err(Error::usage)?;
    let Some(decl) = l.decls.get(&address) else {
        let declared: Vec<String> = l
            .decls
            .resources
            .iter()
            .map(|d| d.address.to_string())
            .collect();
        let refs: Vec<&str> = declared.iter().map(String::as_str).collect();
        let hint = crate::schema::suggest(addr, &refs)
            .map(|s| format!("\nhint: did you mean `{s}`?"))
            .unwrap_or_else(|| {
                "\nhint: declare it in the script first; import records what a declaration names"
                    .into()
            });
        return Err(Error::usage(format!(
            "`{addr}` is not declared in `{}`{hint}",
            file.display()
        )));
    };
    if let Some(r) = l.state.resources.get(&address) {
        return Err(Error::usage(format!(
            "`{addr}` is already in the state of `{}` (id `{}`)\nhint: `eprun state rm` forgets it first",
            l.env.name, r.id
        )));
    }
    let kind = address.kind();
    if kind.starts_with("k8s.") || kind.starts_with("helm.") {
        return Err(Error::usage(format!(
            "`{addr}` needs no import: apply adopts an existing Kubernetes object through server-side apply, and an existing Helm release by its name"
        )));
    }
    let cx = crate::connections::open(&l.env).await;
    let keys = BTreeSet::from([id.to_string()]);
    let found = migration::read_named(&cx, &l.env.name, kind, &decl.region, &keys).await?;
    let Some(observed) = found.into_iter().next() else {
        return Err(Error::usage(format!(
            "no `{kind}` with id `{id}` exists in `{}` (or another stack owns it)\nhint: check the id with the AWS CLI, and the region the declaration uses",
            decl.region
        )));
    };
    if let Some(owner) = observed.address.as_ref().filter(|a| **a != address) {
        return Err(Error::usage(format!(
            "`{id}` carries the ownership tags of `{owner}` in this stack, not `{addr}`\nhint: `eprun state mv` re-addresses a recorded resource"
        )));
    }
    let graph = crate::graph::build(&l.decls).map_err(Error::usage)?;
    let record = ResourceState::found(
        kind,
        &decl.region,
        &observed,
        graph.deps.get(&address).cloned().unwrap_or_default(),
        decl.protect,
        decl.ignore_changes.clone(),
    );
    l.state.resources.insert(address.clone(), record);
    l.store.save(&mut l.state).await?;
    eprintln!(
        "imported `{id}` as `{addr}` into `{}`; nothing in the cloud was changed.\nnext: `eprun plan {}` shows what differs (at least its ownership tags).",
        l.store.location(),
        file.display()
    );
    Ok(exit::OK)
}

/// `eprun migrate terraform FILE STATE`: matches every resource of a Terraform state (a file, or
/// `s3://bucket/key` of the S3 backend) to a declaration and records the matches.
pub async fn terraform(file: &Path, source: &str, g: &Global) -> Result<u8> {
    let (_e, mut l) = load(file, g, Mode::Adopt, false).await?;
    let cx = crate::connections::open(&l.env).await;
    let text = read_source(&cx, source).await?;
    let instances = terraform_state::parse(source, &text).map_err(Error::usage)?;
    let (candidates, mut unknown) = read_instances(&cx, &l, instances).await?;
    let mut m = migration::match_candidates(&l.decls, candidates)?;
    m.unclaimed.append(&mut unknown);
    show(&m, g);
    if !m.ambiguous.is_empty() {
        return Err(Error::usage(format!(
            "{} declaration(s) fit more than one resource; nothing was recorded\nhint: `eprun import {} ADDR ID` records the right one, then migrate again",
            m.ambiguous.len(),
            file.display()
        )));
    }
    let added = migration::record(&mut l.state, &m);
    l.store.save(&mut l.state).await?;
    eprintln!(
        "recorded {} resource(s) in `{}`; nothing was created, changed or deleted.\nnext: `eprun plan {}` shows what differs (their ownership tags).",
        added.len(),
        l.store.location(),
        file.display()
    );
    Ok(exit::OK)
}

/// The text of a Terraform state: a file, or an object of the S3 backend (`s3://bucket/key`).
async fn read_source(cx: &Context, source: &str) -> Result<String> {
    let Some((bucket, key)) = source.strip_prefix("s3://").and_then(|s| s.split_once('/')) else {
        return std::fs::read_to_string(source).map_err(|e| Error::Io {
            action: "read",
            path: source.to_string(),
            source: e,
        });
    };
    let aws = Aws::of(cx)?;
    let got = aws.s3().get_object().bucket(bucket).key(key).send().await;
    let got = got.map_err(crate::aws::sdk("GetObject", source))?;
    let bytes = got
        .body
        .collect()
        .await
        .map_err(|e| Error::usage(format!("cannot read `{source}`: {e}")))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::usage(format!("`{source}` is not text")))
}

/// Reads what each instance names, grouped by type and region; answers the resources found (with
/// the Terraform addresses that name each) and the instances that name nothing eprun can read.
async fn read_instances(
    cx: &Context,
    l: &Loaded,
    instances: Vec<Instance>,
) -> Result<(Vec<Candidate>, Vec<Unmatched>)> {
    let mut unknown = Vec::new();
    let mut wanted: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for i in instances {
        let res = resource::registry()
            .iter()
            .find(|r| r.terraform_types().contains(&i.tf_type.as_str()));
        let Some(res) = res else {
            unknown.push(Unmatched {
                what: i.address,
                why: format!("eprun has no resource type for `{}`", i.tf_type),
            });
            continue;
        };
        let Some(key) = res.terraform_id(&i.tf_type, &i.attributes) else {
            unknown.push(Unmatched {
                what: i.address,
                why: "its attributes name no id".into(),
            });
            continue;
        };
        let region = region_of(&i.attributes).unwrap_or_else(|| l.env.region.clone());
        wanted
            .entry((res.kind().to_string(), region))
            .or_default()
            .push((key, i.address));
    }
    let mut candidates: BTreeMap<(String, String, String), Candidate> = BTreeMap::new();
    for ((kind, region), named) in wanted {
        let keys: BTreeSet<String> = named.iter().map(|(k, _)| k.clone()).collect();
        let found = migration::read_named(cx, &l.env.name, &kind, &region, &keys).await?;
        for (key, source) in named {
            let hit = found
                .iter()
                .find(|o| o.id == key || o.natural_key.as_deref() == Some(key.as_str()));
            let Some(observed) = hit else {
                unknown.push(Unmatched {
                    what: source,
                    why: format!("no `{kind}` `{key}` in `{region}` (deleted, or another stack's)"),
                });
                continue;
            };
            candidates
                .entry((kind.clone(), region.clone(), observed.id.clone()))
                .or_insert_with(|| Candidate {
                    found: Found {
                        kind: kind.clone(),
                        region: region.clone(),
                        observed: observed.clone(),
                    },
                    sources: Vec::new(),
                })
                .sources
                .push(source);
        }
    }
    Ok((candidates.into_values().collect(), unknown))
}

/// The region an instance's ARN names, when it names one (global services' ARNs do not).
fn region_of(attributes: &serde_json::Value) -> Option<String> {
    let arn = attributes.get("arn")?.as_str()?;
    let region = arn.split(':').nth(3)?;
    (!region.is_empty()).then(|| region.to_string())
}

/// Prints the match table: matched, then what fits several, what nothing fits, and what no
/// declaration claims.
fn show(m: &Migration, g: &Global) {
    if g.json {
        let rows = |list: &[Unmatched]| -> Vec<serde_json::Value> {
            (list.iter())
                .map(|u| serde_json::json!({"what": u.what, "why": u.why}))
                .collect()
        };
        print_json(&serde_json::json!({
            "matched": m.matched.iter().map(|x| serde_json::json!({
                "address": x.address, "id": x.record.id, "sources": x.sources,
            })).collect::<Vec<_>>(),
            "ambiguous": rows(&m.ambiguous),
            "not_found": rows(&m.not_found),
            "unclaimed": rows(&m.unclaimed),
        }));
        return;
    }
    println!("Matched ({}):", m.matched.len());
    for x in &m.matched {
        println!(
            "  {}  <=  {}  ({})",
            x.address,
            x.sources.join(", "),
            x.record.id
        );
    }
    let section = |title: &str, list: &[Unmatched]| {
        if !list.is_empty() {
            println!("\n{title} ({}):", list.len());
            for u in list {
                println!("  {}: {}", u.what, u.why);
            }
        }
    };
    section("Ambiguous: more than one resource fits", &m.ambiguous);
    section(
        "Declared, not in the Terraform state (a plan creates them)",
        &m.not_found,
    );
    section(
        "In the Terraform state, not declared (left alone)",
        &m.unclaimed,
    );
}
