//! The CI/CD pipeline, `.github/workflows/eprun.yml`: the eprun commands of its `run:` steps, in
//! the order its jobs run them, work against the emulators. The matrix's first region is
//! planned in the local environment (`--env local/us-east-1`), as the pipeline would plan
//! `prod/us-east-1`: check, a plan saved with `--detailed-exitcode --out` (exit 2), its
//! Markdown comment, the apply of exactly that plan; after it, a plan is empty (exit 0).

use crate::support::*;
use std::collections::BTreeMap;

const WORKFLOW: &str = ".github/workflows/eprun.yml";

/// One eprun command of the workflow: the job it runs in, and its arguments after `eprun`.
#[derive(Debug)]
struct Command {
    job: String,
    args: Vec<String>,
}

/// `${{ matrix.KEY }}` replaced by the value in the matrix's first `include` entry.
fn with_matrix(text: &str, matrix: &serde_json::Value) -> String {
    let mut out = text.to_string();
    if let Some(entry) = matrix.as_object() {
        for (k, v) in entry {
            let value = v.as_str().unwrap_or_default();
            out = out.replace(&format!("${{{{ matrix.{k} }}}}"), value);
        }
    }
    out
}

/// Splits a shell command line into words: double quotes group, `$NAME` and `${NAME}` expand
/// from `env`. It stops at the first `||`, `&&`, `;`, `|` or `>` outside quotes.
fn words(line: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '$' => {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced {
                    assert_eq!(chars.next(), Some('}'), "unclosed ${{ in `{line}`");
                }
                word.push_str(
                    env.get(&name)
                        .unwrap_or_else(|| panic!("`{line}` uses ${name}, which no env sets")),
                );
                in_word = true;
            }
            '|' | '&' | ';' | '>' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// The eprun commands of the workflow's `run:` steps, job by job in the file's order, with the
/// job's and step's `env:` (matrix values filled in from the first entry) expanded.
fn eprun_commands(workflow: &serde_json::Value) -> Vec<Command> {
    let mut commands = Vec::new();
    let jobs = workflow["jobs"].as_object().expect("the workflow has jobs");
    for (job, spec) in jobs {
        let matrix = &spec["strategy"]["matrix"]["include"][0];
        let env_of = |v: &serde_json::Value| -> BTreeMap<String, String> {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                with_matrix(v.as_str().unwrap_or_default(), matrix),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let job_env = env_of(&spec["env"]);
        for step in spec["steps"].as_array().expect("a job has steps") {
            let Some(script) = step["run"].as_str() else {
                continue;
            };
            let mut env = job_env.clone();
            env.extend(env_of(&step["env"]));
            for line in script.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("eprun ") {
                    commands.push(Command {
                        job: job.clone(),
                        args: words(&with_matrix(rest, matrix), &env),
                    });
                }
            }
        }
    }
    commands
}

#[test]
fn the_workflow_plans_comments_and_applies_exactly_the_reviewed_plan() {
    let text = std::fs::read_to_string(repo_root().join(WORKFLOW)).expect("the workflow file");
    let workflow: serde_json::Value = serde_saphyr::from_str(&text).expect("the workflow is YAML");
    assert_eq!(
        workflow["permissions"]["id-token"], "write",
        "OIDC needs id-token: write"
    );
    let uses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- uses: "))
        .chain(text.lines().filter_map(|l| l.trim().strip_prefix("uses: ")))
        .collect();
    assert!(
        uses.iter()
            .any(|u| u.starts_with("aws-actions/configure-aws-credentials@")),
        "{uses:?}"
    );
    assert!(text.contains("role-to-assume:"), "OIDC assumes a role");

    let commands = eprun_commands(&workflow);
    let shape: Vec<(&str, &str)> = commands
        .iter()
        .map(|c| (c.job.as_str(), c.args[0].as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("check", "check"),
            ("plan", "plan"),
            ("plan", "show"),
            ("apply", "apply")
        ],
        "{commands:#?}"
    );
    let plan_file = "prod-us-east-1.plan";
    assert_eq!(
        commands[1].args,
        ["plan", US_SCRIPT, "--detailed-exitcode", "--out", plan_file]
    );
    assert_eq!(
        commands[2].args,
        ["show", plan_file, "--format", "markdown"]
    );
    assert_eq!(commands[3].args, ["apply", plan_file]);

    let moto = Moto::start();
    let project = Project::new();
    let run = |args: &[String]| -> Output {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        eprun(&project, &args)
            .args(&["--env", LOCAL_US])
            .moto(&moto)
            .run()
    };

    let check = run(&commands[0].args);
    check.expect_success().expect_no_panic();

    let plan = run(&commands[1].args);
    plan.expect_code(2).expect_no_panic();
    let saved: serde_json::Value =
        serde_json::from_str(&project.read(plan_file)).expect("the saved plan");
    let planned = plan_addresses(&saved["plan"]);
    assert!(planned.len() > 100, "the whole primary stack: {planned:?}");

    let comment = run(&commands[2].args);
    comment.expect_success();
    let md = &comment.stdout;
    assert!(
        md.starts_with(&format!("### eprun plan: `{LOCAL_US}`\n")),
        "{comment}"
    );
    assert!(
        md.contains(&format!("`{US_SCRIPT}` in environment `{LOCAL_US}`")),
        "{comment}"
    );
    assert!(
        md.contains(&format!(
            "**Plan: {} to create, 0 to update, 0 to replace, 0 to delete.**",
            planned.len()
        )),
        "{comment}"
    );
    assert!(
        md.contains("| `+` | `ec2.vpc.examplepay-local` | create |"),
        "{comment}"
    );
    assert!(
        md.contains("<details><summary><code>+ ec2.vpc.examplepay-local</code> (create)</summary>"),
        "{comment}"
    );
    assert!(md.contains("+ cidr_block = \"10.10.0.0/16\""), "{comment}");
    assert!(
        md.len() < 65_536,
        "a GitHub comment holds at most 65,536 characters"
    );

    let apply = run(&commands[3].args);
    apply.expect_success().expect_no_panic();
    assert!(
        apply.all().contains(&format!(
            "Apply complete: {} created, 0 updated, 0 deleted",
            planned.len()
        )),
        "{apply}"
    );
    Inventory::read(&moto, "us-east-1", LOCAL_US).assert_one_network(
        &moto,
        "us-east-1",
        &apply.to_string(),
    );

    let again = run(&[
        "plan".into(),
        US_SCRIPT.into(),
        "--detailed-exitcode".into(),
    ]);
    again.expect_success();
}
