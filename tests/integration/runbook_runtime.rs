//! The runbook runtime: steps in order with grouped output, the journal (local and S3), a
//! failing step and `--resume`, `confirm` without a terminal, dry run, parameters, `runs
//! list|show`, and secret values that never reach anything eprun writes.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// Three steps; the second throws unless `--param ready=yes`.
const DEMO: &str = r#"
runbook(#{
    name: "demo",
    summary: "Three steps for the tests",
    params: #{
        ready: #{ "default": "no", doc: "whether step 2 may pass" },
        replicas: 3,
    },
});

step("Check the peer", || {
    log("checking with " + param("replicas") + " replicas");
    42
});

step("Scale EU payments", || {
    if param("ready") != "yes" {
        throw "EU payments are not ready";
    }
    log("scaled");
});

step("Verify", || {
    log("verified");
});
"#;
const DEMO_PATH: &str = "scripts/runbooks/demo.rhai";

/// A runbook reading AWS (STS) in both environments of the pair.
const READS: &str = r#"
runbook(#{ name: "reads", summary: "Who and where" });

step("Who am I", || {
    let me = aws::sts::caller_identity();
    log("account " + me.account);
});

step("Both regions", || {
    let env = environment();
    log("primary in " + env.region);
    in_env(env.peers.dr, || log("dr in " + environment().region));
});

step("Done", || log("all read"));
"#;
const READS_PATH: &str = "scripts/runbooks/reads.rhai";

/// Confirms in step 2 of 3.
const CONFIRMING: &str = r#"
runbook(#{ name: "confirming" });
step("Look", || log("looked"));
step("Act", || {
    confirm("Invert the us-east-1 health check?");
    log("acted");
});
step("After", || log("after"));
"#;
const CONFIRMING_PATH: &str = "scripts/runbooks/confirming.rhai";

/// Puts a secret's value (read from stdin) in step 2.
const ROTATE: &str = r#"
runbook(#{ name: "rotate", summary: "Rotate the database password" });
step("Look", || {
    let me = aws::sts::caller_identity();
    log("as " + me.arn);
});
step("Put the new value", || {
    let r = aws::secretsmanager::put("examplepay/db-password");
    log("version " + r.version_id);
    r
});
"#;
const ROTATE_PATH: &str = "scripts/runbooks/rotate.rhai";
const SECRET_NAME: &str = "examplepay/db-password";

/// Every journal of the project's `.eprun/runs/`, as (id, records).
pub(crate) fn journals(project: &Project) -> Vec<(String, Vec<serde_json::Value>)> {
    let dir = project.join(".eprun/runs");
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".jsonl") else {
            continue;
        };
        let text = fs::read_to_string(e.path()).expect("read a journal");
        let records = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("journal line {l}: {e}")))
            .collect();
        out.push((id.to_string(), records));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The one journal of the project.
fn only_journal(project: &Project, out: &Output) -> (String, Vec<serde_json::Value>) {
    let mut all = journals(project);
    assert_eq!(all.len(), 1, "expected exactly one journal\n{out}");
    all.remove(0)
}

/// The records of one type (`start`, `mutation`, `end`, …).
pub(crate) fn of_type<'a>(records: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    records.iter().filter(|r| r["type"] == t).collect()
}

/// Where each needle first appears in `text`, panicking when one is missing or out of order.
pub(crate) fn assert_in_order(text: &str, needles: &[&str], out: &Output) {
    let mut from = 0;
    for n in needles {
        match text[from..].find(n) {
            Some(i) => from += i + n.len(),
            None => panic!("`{n}` is missing or out of order (expected after byte {from})\n{out}"),
        }
    }
}

/// `eprun ARGS` in `project` against `moto`, with `input` on stdin (a pipe, not a terminal) and
/// the same clean AWS environment the support builder gives.
pub(crate) fn eprun_with_stdin(
    project: &Project,
    moto: &Moto,
    args: &[&str],
    input: &str,
) -> Output {
    eprun(project, args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint())
        .run_with_stdin(input)
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = fs::read(&path)
            && String::from_utf8_lossy(&bytes).contains(needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

fn create_secret(moto: &Moto, value: &str) {
    block_on(
        secretsmanager_client(moto, "us-east-1")
            .create_secret()
            .name(SECRET_NAME)
            .secret_string(value)
            .send(),
    )
    .expect("CreateSecret in moto");
}

fn secret_value(moto: &Moto) -> String {
    block_on(
        secretsmanager_client(moto, "us-east-1")
            .get_secret_value()
            .secret_id(SECRET_NAME)
            .send(),
    )
    .expect("GetSecretValue from moto")
    .secret_string()
    .unwrap_or_default()
    .to_string()
}

#[test]
fn steps_run_in_order_with_grouped_output_and_a_journal_with_the_caller() {
    let moto = Moto::start();
    let project = Project::new();
    project.write(READS_PATH, READS);
    let out = eprun(&project, &["run", READS_PATH, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    out.expect_success().expect_no_panic();
    assert_in_order(
        &out.stderr,
        &[
            "Runbook reads: Who and where",
            "arn:aws:sts::123456789012:",
            "▸ Step 1/3: Who am I",
            "    account 123456789012",
            "✓",
            "▸ Step 2/3: Both regions",
            "    primary in us-east-1",
            "    dr in eu-west-1",
            "✓",
            "▸ Step 3/3: Done",
            "    all read",
            "✓",
            "finished: 3/3 steps",
        ],
        &out,
    );

    let (id, records) = only_journal(&project, &out);
    assert!(
        id.len() == "20261126T011500Z-ab12".len() && id.as_bytes()[8] == b'T',
        "a time-sortable id: {id}"
    );
    let start = &records[0];
    assert_eq!(start["type"], "start", "{records:#?}");
    assert_eq!(start["run_id"], id.as_str());
    assert_eq!(start["runbook"], "reads");
    assert_eq!(start["file"], READS_PATH);
    assert_eq!(start["dry_run"], false);
    assert_eq!(start["env"], LOCAL_US);
    assert_eq!(start["total_steps"], 3);
    assert!(
        start["file_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("sha256:")),
        "{start}"
    );
    assert!(
        start["caller"]["arn"]
            .as_str()
            .is_some_and(|a| a.contains("123456789012")),
        "the caller comes from STS: {start}"
    );
    let names: Vec<&str> = of_type(&records, "step_end")
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "ok", "{r}");
            assert!(r["duration_ms"].is_u64(), "{r}");
            r["name"].as_str().unwrap_or_default()
        })
        .collect();
    assert_eq!(names, ["Who am I", "Both regions", "Done"]);
    let logs: Vec<(&serde_json::Value, &str)> = of_type(&records, "log")
        .iter()
        .map(|r| (&r["step"], r["message"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        logs.contains(&(&serde_json::json!(2), "dr in eu-west-1")),
        "log lines are journaled with their step: {logs:?}"
    );
    assert_eq!(records.last().expect("records")["type"], "end");
    assert_eq!(records.last().expect("records")["status"], "ok");

    let list = eprun(&project, &["runs", "list"]).run();
    list.expect_success();
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("runs list shows the run\n{list}"));
    for cell in ["reads", "ok", "3/3", LOCAL_US] {
        assert!(row.contains(cell), "`{cell}` in `{row}`\n{list}");
    }
    let show = eprun(&project, &["runs", "show", &id]).run();
    show.expect_success();
    assert_in_order(
        &show.stdout,
        &[
            &format!("Run {id}"),
            "arn:aws:sts::123456789012:",
            "started",
            "▸ Step 1/3: Who am I",
            "account 123456789012",
            "✓ ok",
            "▸ Step 2/3: Both regions",
            "▸ Step 3/3: Done",
            "ended: ok",
        ],
        &show,
    );
    // A unique prefix of the id is enough; --json gives the records.
    let json = eprun(&project, &["runs", "show", &id[..17], "--json"]).run();
    json.expect_success();
    let shown = json.json();
    assert_eq!(
        shown.as_array().map(Vec::len),
        Some(records.len()),
        "{json}"
    );
}

#[test]
fn a_failing_step_stops_the_run_and_resume_skips_the_done_steps() {
    let project = Project::new();
    project.write(DEMO_PATH, DEMO);
    let first = eprun(&project, &["run", DEMO_PATH]).no_credentials().run();
    first.expect_code(1).expect_no_panic();
    let (id, records) = only_journal(&project, &first);
    assert_in_order(
        &first.stderr,
        &[
            "▸ Step 1/3: Check the peer",
            "    checking with 3 replicas",
            "✓",
            "▸ Step 2/3: Scale EU payments",
            "✗ failed",
            "demo.rhai:18:9",
            "EU payments are not ready",
            &format!("Resume with: eprun run {DEMO_PATH} --resume {id}"),
        ],
        &first,
    );
    assert!(
        !first.stderr.contains("Verify") && !first.stderr.contains("verified"),
        "no step after the failing one runs\n{first}"
    );
    let failed = of_type(&records, "step_end")
        .into_iter()
        .find(|r| r["status"] == "failed")
        .unwrap_or_else(|| panic!("a failed step_end: {records:#?}"));
    assert_eq!(failed["index"], 2);
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("EU payments are not ready")),
        "{failed}"
    );
    assert_eq!(records.last().expect("records")["status"], "failed");
    let list = eprun(&project, &["runs", "list"]).run();
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("failed") && l.contains("1/3")),
        "{list}"
    );

    // The operator fixes the cause and resumes with the parameter that lets step 2 pass; the
    // script changed meanwhile (a comment), which is said.
    project.edit(DEMO_PATH, |t| format!("// fixed by the on-call\n{t}"));
    let resumed = eprun(
        &project,
        &["run", DEMO_PATH, "--resume", &id, "--param", "ready=yes"],
    )
    .no_credentials()
    .run();
    resumed.expect_success().expect_no_panic();
    assert_in_order(
        &resumed.stderr,
        &[
            "changed since the run started",
            "▸ Step 1/3: Check the peer — done in an earlier attempt, skipped",
            "▸ Step 2/3: Scale EU payments",
            "    scaled",
            "▸ Step 3/3: Verify",
            "    verified",
            "finished: 3/3 steps",
        ],
        &resumed,
    );
    assert!(
        !resumed.stderr.contains("checking with"),
        "the done step's closure must not run again\n{resumed}"
    );
    let (same_id, records) = only_journal(&project, &resumed);
    assert_eq!(same_id, id, "a resumed run keeps its id and journal");
    let resume = of_type(&records, "resume");
    assert_eq!(resume.len(), 1, "{records:#?}");
    assert_eq!(resume[0]["file_changed"], true);
    assert_eq!(resume[0]["overrides"]["ready"], "yes");
    assert_eq!(of_type(&records, "step_skip").len(), 1);
    assert_eq!(records.last().expect("records")["status"], "ok");

    let again = eprun(&project, &["run", DEMO_PATH, "--resume", &id])
        .no_credentials()
        .run();
    again.expect_code(1);
    assert!(again.stderr.contains("already finished"), "{again}");

    let show = eprun(&project, &["runs", "show", &id]).run();
    show.expect_success();
    assert_in_order(
        &show.stdout,
        &[
            "status   ok (3/3 steps done, 2 attempts)",
            "✗ failed",
            "ended: failed",
            "resumed by",
            "ready=yes",
            "done earlier, skipped",
            "ended: ok",
        ],
        &show,
    );
}

#[test]
fn without_a_terminal_confirm_needs_yes_and_nothing_runs() {
    let project = Project::new();
    project.write(CONFIRMING_PATH, CONFIRMING);
    let refused = eprun(&project, &["run", CONFIRMING_PATH])
        .no_credentials()
        .run();
    refused.expect_code(1).expect_no_panic();
    assert!(
        refused.stderr.contains("needs --yes without a TTY"),
        "{refused}"
    );
    assert!(
        !refused.stderr.contains("▸ Step") && !refused.stderr.contains("acted"),
        "no step runs\n{refused}"
    );
    assert!(journals(&project).is_empty(), "no run was started");

    // `eprun FILE --yes` runs a runbook like `eprun run FILE --yes`.
    let yes = eprun(&project, &[CONFIRMING_PATH, "--yes"])
        .no_credentials()
        .run();
    yes.expect_success().expect_no_panic();
    assert_in_order(
        &yes.stderr,
        &[
            "▸ Step 2/3: Act",
            "? Invert the us-east-1 health check? — yes (--yes)",
            "    acted",
            "▸ Step 3/3: After",
        ],
        &yes,
    );
    let (_, records) = only_journal(&project, &yes);
    let confirm = of_type(&records, "confirm");
    assert_eq!(confirm.len(), 1, "{records:#?}");
    assert_eq!(confirm[0]["answer"], "--yes");
    assert_eq!(confirm[0]["step"], 2);
}

#[test]
fn on_a_terminal_a_declined_confirm_stops_the_run_before_the_next_call() {
    let project = Project::new();
    project.write(CONFIRMING_PATH, CONFIRMING);
    let mut running = eprun(&project, &["run", CONFIRMING_PATH])
        .no_credentials()
        .spawn_with_tty();
    poll_until(
        Duration::from_secs(60),
        "the confirm prompt",
        || running.context(),
        || (running.stderr_so_far().contains("[y/N]") || running.finished()).then_some(()),
    );
    running.answer("n\n");
    let out = running.wait(Duration::from_secs(60));
    out.expect_code(1).expect_no_panic();
    assert!(out.stderr.contains("Stopped: declined"), "{out}");
    assert!(
        !out.stderr.contains("acted") && !out.stderr.contains("▸ Step 3/3"),
        "nothing after the declined confirm runs\n{out}"
    );
    let (id, records) = only_journal(&project, &out);
    assert!(out.stderr.contains(&format!("--resume {id}")), "{out}");
    assert_eq!(of_type(&records, "confirm")[0]["answer"], "no");
    assert_eq!(records.last().expect("records")["status"], "stopped");
}

#[test]
fn an_unknown_param_is_refused_before_any_step() {
    let project = Project::new();
    project.write(DEMO_PATH, DEMO);
    let out = eprun(&project, &["run", DEMO_PATH, "--param", "redy=yes"])
        .no_credentials()
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains("unknown parameter `--param redy`")
            && out.stderr.contains("`ready`, `replicas`")
            && out.stderr.contains("did you mean `ready`"),
        "{out}"
    );
    assert!(!out.stderr.contains("▸ Step"), "no step runs\n{out}");
    assert!(journals(&project).is_empty(), "no run was started\n{out}");

    let typed = eprun(&project, &["run", DEMO_PATH, "--param", "replicas=many"])
        .no_credentials()
        .run();
    typed.expect_code(1);
    assert!(typed.stderr.contains("a whole number"), "{typed}");
}

#[test]
fn a_dry_run_reads_for_real_skips_mutations_and_says_so_in_the_journal() {
    let moto = Moto::start();
    let project = Project::new();
    project.write(ROTATE_PATH, ROTATE);
    create_secret(&moto, "the-old-value");
    let out = eprun(
        &project,
        &["run", ROTATE_PATH, "--env", LOCAL_US, "--dry-run"],
    )
    .moto(&moto)
    .run();
    out.expect_success().expect_no_panic();
    assert_in_order(
        &out.stderr,
        &[
            "dry run",
            "▸ Step 1/2: Look",
            "as arn:aws:sts::123456789012:",
            "▸ Step 2/2: Put the new value",
            &format!("would PutSecretValue {SECRET_NAME}"),
            "✓",
            "no mutating call was made",
        ],
        &out,
    );
    assert_eq!(
        secret_value(&moto),
        "the-old-value",
        "a dry run changes nothing"
    );
    let (_, records) = only_journal(&project, &out);
    assert_eq!(records[0]["dry_run"], true, "{records:#?}");
    let m = of_type(&records, "mutation");
    assert_eq!(m.len(), 1, "{records:#?}");
    assert_eq!(m[0]["operation"], "PutSecretValue");
    assert_eq!(m[0]["target"], SECRET_NAME);
    assert_eq!(m[0]["outcome"], "skipped");
    assert_eq!(m[0]["step"], 2);
    let list = eprun(&project, &["runs", "list"]).run();
    assert!(list.stdout.contains("ok (dry run)"), "{list}");
}

#[test]
fn a_secret_put_from_stdin_reaches_aws_and_nothing_eprun_wrote() {
    const VALUE: &str = "N3w-pa55w0rd-f0r-t3sts-only";
    let moto = Moto::start();
    let project = Project::new();
    project.write(ROTATE_PATH, ROTATE);
    create_secret(&moto, "the-old-value");
    let out = eprun_with_stdin(
        &project,
        &moto,
        &["run", ROTATE_PATH, "--env", LOCAL_US, "-v"],
        &format!("{VALUE}\n"),
    );
    out.expect_success().expect_no_panic();
    assert_eq!(
        secret_value(&moto),
        VALUE,
        "the new value (one trailing newline dropped) is in Secrets Manager"
    );
    // A failing put (no such secret) must not show the value in its error either.
    project.write(
        "scripts/runbooks/rotate-missing.rhai",
        ROTATE.replace(SECRET_NAME, "examplepay/no-such-secret"),
    );
    let failed = eprun_with_stdin(
        &project,
        &moto,
        &[
            "run",
            "scripts/runbooks/rotate-missing.rhai",
            "--env",
            LOCAL_US,
        ],
        &format!("{VALUE}\n"),
    );
    failed.expect_code(1).expect_no_panic();
    assert!(failed.stderr.contains("PutSecretValue"), "{failed}");

    for o in [&out, &failed] {
        assert!(
            !o.stdout.contains(VALUE) && !o.stderr.contains(VALUE),
            "the secret value leaked into the output\n{o}"
        );
    }
    let leaked = files_containing(&project.join(".eprun"), VALUE);
    assert!(leaked.is_empty(), "the secret value is in {leaked:?}");
    let leaked = files_containing(&project.join(".test-scratch"), VALUE);
    assert!(leaked.is_empty(), "the secret value is in {leaked:?}");
    let all = journals(&project);
    assert_eq!(all.len(), 2, "both runs have a journal");
    let mutations: Vec<String> = all
        .iter()
        .flat_map(|(_, r)| of_type(r, "mutation").into_iter().cloned())
        .map(|m| format!("{} {}", m["target"], m["outcome"]))
        .collect();
    assert!(
        mutations.contains(&format!("\"{SECRET_NAME}\" \"done\""))
            && mutations.contains(&"\"examplepay/no-such-secret\" \"failed\"".to_string()),
        "{mutations:?}"
    );
}

#[test]
fn journals_are_copied_beside_an_s3_state_and_listed_from_there() {
    const BUCKET: &str = "examplepay-local-state";
    let moto = Moto::start();
    let project = Project::new();
    project.edit("environments/local/us-east-1.toml", |text| {
        text.replace(
            "[state]\nbackend = \"local\"",
            &format!(
                "[state]\nbackend = \"s3\"\nbucket = \"{BUCKET}\"\nkey = \"local/us-east-1.json\""
            ),
        )
    });
    block_on(
        s3_client(&moto, "us-east-1")
            .create_bucket()
            .bucket(BUCKET)
            .send(),
    )
    .expect("CreateBucket");
    project.write(READS_PATH, READS);
    let out = eprun(&project, &["run", READS_PATH, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    out.expect_success().expect_no_panic();
    let (id, local) = only_journal(&project, &out);
    let key = format!("local/runs/{id}.jsonl");
    let object = block_on(
        s3_client(&moto, "us-east-1")
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send(),
    )
    .unwrap_or_else(|e| panic!("s3://{BUCKET}/{key}: {e:?}\n{out}"));
    let bytes = block_on(object.body.collect()).expect("body").into_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(
        text.lines().count(),
        local.len(),
        "the S3 copy is the whole journal"
    );

    // A teammate's checkout has no local journal: `--env` finds it in the bucket.
    let other = Project::new();
    other.edit("environments/local/us-east-1.toml", |_| {
        project.read("environments/local/us-east-1.toml")
    });
    let list = eprun(&other, &["runs", "list", "--env", LOCAL_US])
        .moto(&moto)
        .run();
    list.expect_success();
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("reads") && l.contains("3/3")),
        "{list}"
    );
    let show = eprun(&other, &["runs", "show", &id, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    show.expect_success();
    assert!(show.stdout.contains("▸ Step 2/3: Both regions"), "{show}");
}
