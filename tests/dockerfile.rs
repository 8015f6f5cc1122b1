//! The Dockerfile lint (`stowaway lint`) on the seeds' own Dockerfiles, and
//! `audit --dockerfile`: history mapped back to lines, mismatches said.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dockerfiles")
        .join(name)
        .display()
        .to_string()
}

fn lint(file: &str, extra: &[&str]) -> (i32, Vec<(String, u64)>) {
    let path = data(file);
    let mut args = vec!["lint", path.as_str(), "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = stowaway(args);
    assert!(code < 2, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let lints = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["rule"].as_str().unwrap().to_string(),
                l["line"].as_u64().unwrap(),
            )
        })
        .collect();
    (code, lints)
}

#[test]
fn seed_expected_solution_passes_the_secret_and_multi_stage_rules() {
    let (code, lints) = lint(
        "seed-expected-solution.Dockerfile",
        &[
            "--expect-port",
            "8080",
            "--expect-base",
            "alpine:3.19",
            "--secret-id",
            "api_key",
        ],
    );
    let rules: Vec<&str> = lints.iter().map(|(r, _)| r.as_str()).collect();
    for bad in [
        "secret-in-copy",
        "secret-in-arg",
        "secret-in-env",
        "secret-not-mounted",
        "single-stage-toolchain",
        "deps-not-cached",
    ] {
        assert!(
            !rules.contains(&format!("dockerfile.{bad}").as_str()),
            "{bad}: {lints:?}"
        );
    }
    // The stray `---` between the stages is a parse error at its line.
    assert!(
        lints.contains(&("dockerfile.parse-error".to_string(), 24)),
        "{lints:?}"
    );
    assert_eq!(code, 1, "the parse error is high");
}

#[test]
fn seed_single_stage_fails_with_its_from_line() {
    let (code, lints) = lint("seed-single-stage.Dockerfile", &["--expect-port", "8080"]);
    assert_eq!(code, 1);
    assert!(
        lints.contains(&("dockerfile.single-stage-toolchain".to_string(), 1)),
        "{lints:?}"
    );
}

#[test]
fn good_scratch_dockerfile_is_clean() {
    let (code, lints) = lint(
        "good-scratch.Dockerfile",
        &[
            "--expect-port",
            "8080",
            "--expect-base",
            "scratch",
            "--secret-id",
            "api_key",
            "--fail-on",
            "info",
        ],
    );
    assert_eq!(code, 0, "{lints:?}");
    assert!(lints.is_empty(), "{lints:?}");
}

const DOCKERFILE: &str = "\
FROM alpine:3.19 AS builder
WORKDIR /app
COPY . .
RUN --mount=type=secret,id=api_key go build -o app

FROM scratch
COPY --from=builder /app/app /app
COPY api-private-key.pem /key.pem
USER 65534
ENTRYPOINT [\"/app\"]
";

fn built_from_dockerfile() -> Image {
    Image::new()
        .with_layer(
            Layer::new(vec![Entry::exec("app", STATIC_ELF)])
                .with_created_by("COPY /app/app /app # buildkit"),
        )
        .with_layer(
            Layer::new(vec![Entry::file("key.pem", API_KEY_PEM)])
                .with_created_by("COPY api-private-key.pem /key.pem # buildkit"),
        )
        .with_history(2, "USER 65534")
        .with_history(3, "ENTRYPOINT [\"/app\"]")
        .with_user("65534")
        .with_entrypoint(&["/app"])
}

#[test]
fn audit_ties_findings_to_dockerfile_lines() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    write_docker_classic(&[built_from_dockerfile()], &tar);
    let df = dir.path().join("Dockerfile");
    std::fs::write(&df, DOCKERFILE).unwrap();
    let (code, out, err) = stowaway([
        "audit",
        tar.to_str().unwrap(),
        "--dockerfile",
        df.to_str().unwrap(),
        "--no-policy",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let img = &r["images"][0];
    let key = img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "pem-private-key")
        .unwrap();
    assert_eq!(key["dockerfile_line"], 8, "{key}");
    assert_eq!(key["instruction"], "COPY api-private-key.pem /key.pem");
    assert!(key["message"]
        .as_str()
        .unwrap()
        .ends_with(&format!("introduced by {}:8", df.display())));
    assert_eq!(img["layers"][0]["dockerfile_line"], 7);
    let lint = img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "dockerfile.secret-in-copy")
        .unwrap();
    assert_eq!(lint["where"], "dockerfile");
    assert_eq!(lint["line"], 8);
    assert!(
        img["notes"].as_array().unwrap().is_empty(),
        "{}",
        img["notes"]
    );

    // SARIF points at the Dockerfile line, where a person fixes it.
    let (_, sarif, _) = stowaway([
        "audit",
        tar.to_str().unwrap(),
        "--dockerfile",
        df.to_str().unwrap(),
        "--no-policy",
        "--format",
        "sarif",
    ]);
    let sarif: Value = serde_json::from_str(&sarif).unwrap();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "pem-private-key")
        .unwrap();
    let loc = &result["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("/Dockerfile"),
        "{loc}"
    );
    assert_eq!(loc["region"]["startLine"], 8);

    // An image that lacks an instruction's layer does not match.
    let mut other = built_from_dockerfile();
    other.layers.pop();
    write_docker_classic(&[other], &tar);
    let (_, out, _) = stowaway([
        "audit",
        tar.to_str().unwrap(),
        "--dockerfile",
        df.to_str().unwrap(),
        "--no-policy",
        "--format",
        "json",
    ]);
    let r: Value = serde_json::from_str(&out).unwrap();
    let notes = r["images"][0]["notes"].to_string();
    assert!(
        notes.contains(":8: `COPY api-private-key.pem /key.pem` has no history entry"),
        "{notes}"
    );
}
