//! Ad-hoc use in an incident: a runbook file written on the spot outside the repository, run from
//! the repository, and `eprun eval`, a plain script (`eprun FILE`) or a REPL session making a
//! mutating call — each leaves a journal like any run (`runs list`, `runs show`), while read-only
//! ones leave none and `eval --dry-run` changes nothing. What they change is checked with
//! independent SDK reads against moto.

use std::fs;

use crate::aws_verbs::{create_health_check, health_check_config};
use crate::runbook_runtime::{assert_in_order, eprun_with_stdin, journals, of_type};
use crate::support::*;

/// `eprun eval EXPR --env local/us-east-1 [more]` in `project` against `moto`.
fn eval(project: &Project, moto: &Moto, expr: &str, more: &[&str]) -> Output {
    let out = eprun(project, &["eval", expr, "--env", LOCAL_US])
        .args(more)
        .moto(moto)
        .run();
    out.expect_no_panic();
    out
}

/// The run id of the `journal: .eprun/runs/<id>.jsonl` line an eval prints on stderr.
fn journal_id(out: &Output) -> String {
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("journal: .eprun/runs/"))
        .unwrap_or_else(|| panic!("no `journal:` line on stderr\n{out}"));
    line.split(".jsonl")
        .next()
        .expect("an id before `.jsonl`")
        .to_string()
}

/// The records of run `id` in the project's `.eprun/runs/`.
fn journal_of(project: &Project, id: &str, out: &Output) -> Vec<serde_json::Value> {
    journals(project)
        .into_iter()
        .find(|(j, _)| j == id)
        .map(|(_, records)| records)
        .unwrap_or_else(|| panic!("no journal `{id}`\n{out}"))
}

/// The row of `eprun runs list` for run `id`.
fn listed(project: &Project, id: &str) -> String {
    let list = eprun(project, &["runs", "list"]).run();
    list.expect_success();
    list.stdout
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("`runs list` shows run `{id}`\n{list}"))
        .to_string()
}

#[test]
fn a_runbook_written_outside_the_project_runs_in_it_with_its_journal() {
    let moto = Moto::start();
    let project = Project::new();
    let hc = create_health_check(&moto, "ingress-us-east-1");
    // Written during the incident, in a scratch folder that is no project.
    let scratch = tempfile::Builder::new()
        .prefix("eprun-incident-")
        .tempdir()
        .expect("a scratch dir");
    assert!(
        !scratch.path().join("environments").exists(),
        "the scratch dir must be outside any project"
    );
    fs::write(
        scratch.path().join("helper.rhai"),
        "fn who(me) { \"account \" + me.account }\n",
    )
    .expect("write helper.rhai");
    let script = scratch.path().join("fix.rhai");
    fs::write(
        &script,
        format!(
            r#"
import "./helper" as helper;   // beside the file
import "vpc" as vpc;           // the project's stdlib
runbook(#{{ name: "fix-on-the-spot", summary: "Drain us-east-1 by hand" }});
step("Who and where", || {{
    log(helper::who(aws::sts::caller_identity()) + ", zone " + vpc::az_letter("us-east-1c"));
}});
step("Invert the check", || {{
    aws::route53::update_health_check("{hc}", #{{ inverted: true }});
}});
"#
        ),
    )
    .expect("write fix.rhai");
    let file = script.display().to_string();

    // Its imports resolve before anything runs: `./helper` beside it, `vpc` from the stdlib.
    let check = eprun(&project, &["check", &file]).no_credentials().run();
    check.expect_success().expect_no_panic();
    assert!(check.stderr.contains("checked 1 script(s)"), "{check}");

    let out = eprun(&project, &["run", &file, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    out.expect_success().expect_no_panic();
    assert_in_order(
        &out.stderr,
        &[
            "Runbook fix-on-the-spot: Drain us-east-1 by hand",
            "▸ Step 1/2: Who and where",
            "    account 123456789012, zone c",
            "▸ Step 2/2: Invert the check",
            "finished: 2/2 steps",
        ],
        &out,
    );
    assert_eq!(
        health_check_config(&moto, &hc).inverted(),
        Some(true),
        "the change reached Route 53"
    );

    // The journal is the project's, and names the file where it was.
    let all = journals(&project);
    assert_eq!(all.len(), 1, "one journal in the project\n{out}");
    let (id, records) = &all[0];
    let canonical = fs::canonicalize(&script).expect("canonical script path");
    assert_eq!(records[0]["type"], "start", "{records:#?}");
    assert_eq!(records[0]["file"], canonical.display().to_string());
    assert_eq!(records[0]["env"], LOCAL_US);
    let mutations = of_type(records, "mutation");
    assert_eq!(mutations.len(), 1, "{records:#?}");
    assert_eq!(mutations[0]["operation"], "UpdateHealthCheck");
    assert_eq!(mutations[0]["target"], hc.as_str());
    assert_eq!(mutations[0]["outcome"], "done");
    assert!(
        !scratch.path().join(".eprun").exists(),
        "nothing is written beside the loose script"
    );

    let row = listed(&project, id);
    for cell in ["fix-on-the-spot", "ok", "2/2", LOCAL_US] {
        assert!(row.contains(cell), "`{cell}` in `{row}`");
    }
    let show = eprun(&project, &["runs", "show", id]).run();
    show.expect_success();
    assert_in_order(
        &show.stdout,
        &[
            &format!("file     {}", canonical.display()),
            "▸ Step 2/2: Invert the check",
            &format!("UpdateHealthCheck {hc}: done"),
            "ended: ok",
        ],
        &show,
    );

    // `eprun FILE` finds the project the same way.
    let again = eprun(&project, &[&file, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    again.expect_success().expect_no_panic();
    assert_eq!(journals(&project).len(), 2, "{again}");
}

#[test]
fn a_mutating_eval_leaves_a_journal_with_the_caller_and_its_target() {
    let moto = Moto::start();
    let project = Project::new();
    let hc = create_health_check(&moto, "ingress-us-east-1");

    let expr = format!(r#"aws::route53::update_health_check("{hc}", #{{inverted: true}})"#);
    let out = eval(&project, &moto, &expr, &[]);
    out.expect_success();
    assert_eq!(out.json()["inverted"], true, "{out}");
    assert_eq!(health_check_config(&moto, &hc).inverted(), Some(true));

    let id = journal_id(&out);
    let records = journal_of(&project, &id, &out);
    let start = &records[0];
    assert_eq!(start["type"], "start", "{records:#?}");
    assert_eq!(start["run_id"], id.as_str());
    assert_eq!(start["runbook"], "eval");
    assert_eq!(start["summary"], expr.as_str());
    assert_eq!(start["env"], LOCAL_US);
    assert_eq!(start["dry_run"], false);
    assert!(
        start["caller"]["arn"]
            .as_str()
            .is_some_and(|a| a.contains("123456789012")),
        "the caller comes from STS: {start}"
    );
    let mutations = of_type(&records, "mutation");
    assert_eq!(mutations.len(), 1, "{records:#?}");
    assert_eq!(mutations[0]["operation"], "UpdateHealthCheck");
    assert_eq!(mutations[0]["target"], hc.as_str());
    assert_eq!(mutations[0]["env"], LOCAL_US);
    assert_eq!(mutations[0]["outcome"], "done");
    let end = records.last().expect("records");
    assert_eq!(
        (&end["type"], &end["status"]),
        (&"end".into(), &"ok".into())
    );

    let row = listed(&project, &id);
    for cell in ["eval", "ok", LOCAL_US] {
        assert!(row.contains(cell), "`{cell}` in `{row}`");
    }
    let show = eprun(&project, &["runs", "show", &id]).run();
    show.expect_success();
    assert_in_order(
        &show.stdout,
        &[
            &format!("Run {id} · runbook eval: {expr}"),
            "arn:aws:sts::123456789012:",
            "started",
            &format!("UpdateHealthCheck {hc}: done (in {LOCAL_US})"),
            "ended: ok",
        ],
        &show,
    );

    // An eval that fails after its change: the change is journaled and the run is `failed`.
    let failing = format!(
        r#"aws::route53::update_health_check("{hc}", #{{inverted: false}}); throw "checked too late""#
    );
    let out = eval(&project, &moto, &failing, &[]);
    out.expect_code(1);
    assert!(out.stderr.contains("checked too late"), "{out}");
    assert_eq!(health_check_config(&moto, &hc).inverted(), Some(false));
    let failed = journal_id(&out);
    assert_ne!(failed, id, "every eval is its own run");
    let records = journal_of(&project, &failed, &out);
    assert_eq!(of_type(&records, "mutation")[0]["outcome"], "done");
    let end = records.last().expect("records");
    assert_eq!(end["status"], "failed", "{end}");
    assert!(
        end["error"]
            .as_str()
            .is_some_and(|e| e.contains("checked too late")),
        "{end}"
    );
    assert!(listed(&project, &failed).contains("failed"));
}

#[test]
fn a_read_only_eval_leaves_no_journal_and_a_dry_run_changes_nothing() {
    let moto = Moto::start();
    let project = Project::new();
    let hc = create_health_check(&moto, "ingress-us-east-1");

    for expr in [
        "aws::sts::caller_identity()".to_string(),
        format!(r#"aws::route53::get_health_check("{hc}")"#),
    ] {
        let out = eval(&project, &moto, &expr, &[]);
        out.expect_success();
        assert!(!out.stderr.contains("journal:"), "{out}");
        assert!(
            !project.join(".eprun/runs").exists(),
            "a read-only eval writes no journal\n{out}"
        );
    }

    let expr = format!(r#"aws::route53::update_health_check("{hc}", #{{inverted: true}})"#);
    let out = eval(&project, &moto, &expr, &["--dry-run"]);
    out.expect_success();
    assert!(
        out.stderr.contains(&format!(
            "would UpdateHealthCheck {hc}: inverted false→true"
        )),
        "{out}"
    );
    assert_eq!(
        health_check_config(&moto, &hc).inverted(),
        Some(false),
        "a dry run changes nothing"
    );
    // Like `run --dry-run`, the skipped call is journaled as such.
    let id = journal_id(&out);
    let records = journal_of(&project, &id, &out);
    assert_eq!(records[0]["dry_run"], true, "{records:#?}");
    let mutations = of_type(&records, "mutation");
    assert_eq!(mutations.len(), 1, "{records:#?}");
    assert_eq!(mutations[0]["outcome"], "skipped");
    assert!(listed(&project, &id).contains("ok (dry run)"));
}

#[test]
fn a_plain_script_that_mutates_is_journaled_as_a_run_of_its_file() {
    let moto = Moto::start();
    let project = Project::new();
    let hc = create_health_check(&moto, "ingress-us-east-1");
    project.write(
        "ops/invert-check.rhai",
        format!(
            r#"
let before = aws::route53::get_health_check("{hc}");
let after = aws::route53::update_health_check("{hc}", #{{ inverted: true }});
#{{ before: before.inverted, after: after.inverted }}
"#
        ),
    );
    let out = eprun(&project, &["ops/invert-check.rhai", "--env", LOCAL_US])
        .moto(&moto)
        .run();
    out.expect_success().expect_no_panic();
    assert_eq!(
        out.json(),
        serde_json::json!({"before": false, "after": true})
    );
    assert_eq!(
        health_check_config(&moto, &hc).inverted(),
        Some(true),
        "the change reached Route 53"
    );

    let id = journal_id(&out);
    let records = journal_of(&project, &id, &out);
    let start = &records[0];
    assert_eq!(start["type"], "start", "{records:#?}");
    assert_eq!(start["runbook"], "invert-check");
    assert_eq!(start["file"], "ops/invert-check.rhai");
    assert_eq!(start["adhoc"], true);
    assert_eq!(start["env"], LOCAL_US);
    assert!(
        start["caller"]["arn"]
            .as_str()
            .is_some_and(|a| a.contains("123456789012")),
        "the caller comes from STS: {start}"
    );
    let mutations = of_type(&records, "mutation");
    assert_eq!(mutations.len(), 1, "{records:#?}");
    assert_eq!(mutations[0]["operation"], "UpdateHealthCheck");
    assert_eq!(mutations[0]["target"], hc.as_str());
    assert_eq!(mutations[0]["outcome"], "done");
    assert_eq!(records.last().expect("records")["status"], "ok");

    let row = listed(&project, &id);
    for cell in ["invert-check", "ok", "ad hoc, 1 mutation", LOCAL_US] {
        assert!(row.contains(cell), "`{cell}` in `{row}`");
    }
    assert!(!row.contains("0/0"), "{row}");
    let show = eprun(&project, &["runs", "show", &id]).run();
    show.expect_success();
    assert_in_order(
        &show.stdout,
        &[
            &format!("Run {id} · runbook invert-check"),
            "file     ops/invert-check.rhai",
            "status   ok (ad hoc, 1 mutation)",
            &format!("UpdateHealthCheck {hc}: done (in {LOCAL_US})"),
            "ended: ok",
        ],
        &show,
    );

    // A script that fails after its change: the change is journaled and the run is `failed`.
    project.write(
        "ops/revert-check.rhai",
        format!(
            "aws::route53::update_health_check(\"{hc}\", #{{ inverted: false }});\nthrow \"verified too late\";\n"
        ),
    );
    let out = eprun(&project, &["ops/revert-check.rhai", "--env", LOCAL_US])
        .moto(&moto)
        .run();
    out.expect_code(1).expect_no_panic();
    assert_eq!(health_check_config(&moto, &hc).inverted(), Some(false));
    let failed = journal_id(&out);
    let records = journal_of(&project, &failed, &out);
    assert_eq!(records[0]["runbook"], "revert-check");
    assert_eq!(of_type(&records, "mutation")[0]["outcome"], "done");
    let end = records.last().expect("records");
    assert_eq!(end["status"], "failed", "{end}");
    assert!(
        end["error"].as_str().is_some_and(
            |e| e.starts_with("ops/revert-check.rhai:2:") && e.contains("verified too late")
        ),
        "{end}"
    );
    assert!(listed(&project, &failed).contains("failed"));
}

#[test]
fn a_read_only_plain_script_leaves_no_journal() {
    let moto = Moto::start();
    let project = Project::new();
    let hc = create_health_check(&moto, "ingress-us-east-1");
    project.write(
        "ops/look.rhai",
        format!(
            "let me = aws::sts::caller_identity();\naws::route53::get_health_check(\"{hc}\").inverted\n"
        ),
    );
    let out = eprun(&project, &["ops/look.rhai", "--env", LOCAL_US])
        .moto(&moto)
        .run();
    out.expect_success().expect_no_panic();
    assert_eq!(out.json(), false, "{out}");
    assert!(!out.stderr.contains("journal:"), "{out}");
    assert!(
        !project.join(".eprun/runs").exists(),
        "a read-only script writes no journal\n{out}"
    );
}

#[test]
fn a_repl_session_that_mutates_is_one_run_with_what_was_typed() {
    let moto = Moto::start();
    let project = Project::new();
    let hc = create_health_check(&moto, "ingress-us-east-1");
    let invert = r#"aws::route53::update_health_check(hc, #{inverted: true}).inverted"#;
    let threshold =
        r#"aws::route53::update_health_check(hc, #{failure_threshold: 5}).failure_threshold"#;
    let input = format!(
        ":env {LOCAL_US}\nlet hc = \"{hc}\";\naws::route53::get_health_check(hc).inverted\n{invert}\n:env {LOCAL_EU}\n{threshold}\n:quit\n"
    );
    let out = eprun_with_stdin(&project, &moto, &["repl"], &input);
    out.expect_success().expect_no_panic();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["false", "true", "5"],
        "{out}"
    );
    let config = health_check_config(&moto, &hc);
    assert_eq!(
        (config.inverted(), config.failure_threshold()),
        (Some(true), Some(5)),
        "both changes reached Route 53"
    );

    // One journal for the session, though it switched environments.
    let all = journals(&project);
    assert_eq!(all.len(), 1, "one journal for the session\n{out}");
    let (id, records) = &all[0];
    assert_eq!(journal_id(&out), *id, "the journal is named on leaving");
    let start = &records[0];
    assert_eq!(
        (&start["type"], &start["runbook"], &start["file"]),
        (&"start".into(), &"repl".into(), &"<repl>".into()),
        "{records:#?}"
    );
    assert_eq!(start["env"], LOCAL_US, "`:env` before the first change");
    let typed: Vec<&serde_json::Value> = of_type(records, "log")
        .into_iter()
        .map(|r| &r["message"])
        .collect();
    assert_eq!(
        typed,
        [&format!("> {invert}"), &format!("> {threshold}")],
        "only the inputs that mutated: {records:#?}"
    );
    let mutations = of_type(records, "mutation");
    let envs: Vec<(&serde_json::Value, &serde_json::Value)> = mutations
        .iter()
        .map(|m| (&m["target"], &m["env"]))
        .collect();
    assert_eq!(
        envs,
        [
            (&hc.as_str().into(), &LOCAL_US.into()),
            (&hc.as_str().into(), &LOCAL_EU.into())
        ],
        "{records:#?}"
    );
    assert_eq!(records.last().expect("records")["status"], "ok");

    let show = eprun(&project, &["runs", "show", id]).run();
    show.expect_success();
    assert_in_order(
        &show.stdout,
        &[
            &format!("Run {id} · runbook repl"),
            "file     <repl>",
            "status   ok (ad hoc, 2 mutations)",
            "started",
            &format!("> {invert}"),
            &format!("UpdateHealthCheck {hc}: done (in {LOCAL_US})"),
            &format!("> {threshold}"),
            &format!("UpdateHealthCheck {hc}: done (in {LOCAL_EU})"),
            "ended: ok",
        ],
        &show,
    );
    assert!(listed(&project, id).contains("ad hoc, 2 mutations"));
}

#[test]
fn a_read_only_repl_session_leaves_no_journal() {
    let moto = Moto::start();
    let project = Project::new();
    let hc = create_health_check(&moto, "ingress-us-east-1");
    let input = format!(
        "let hc = \"{hc}\";\naws::route53::get_health_check(hc).inverted\naws::sts::caller_identity().account\n"
    );
    let out = eprun_with_stdin(&project, &moto, &["repl", "--env", LOCAL_US], &input);
    out.expect_success().expect_no_panic();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["false", "\"123456789012\""],
        "{out}"
    );
    assert!(!out.stderr.contains("journal:"), "{out}");
    assert!(
        !project.join(".eprun/runs").exists(),
        "a read-only session writes no journal\n{out}"
    );
}
