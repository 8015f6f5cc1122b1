//! Lint tests: one positive and one negative case per rule, the seed
//! Dockerfiles, a clean reference Dockerfile, and robustness on junk input.

use super::*;
use crate::dockerfile::{extract_fenced, parse};

const SEED_EXPECTED: &str =
    include_str!("../../../tests/data/dockerfiles/seed-expected-solution.Dockerfile");
const SEED_SINGLE: &str =
    include_str!("../../../tests/data/dockerfiles/seed-single-stage.Dockerfile");
const GOOD_SCRATCH: &str = include_str!("../../../tests/data/dockerfiles/good-scratch.Dockerfile");
const LEAKY: &str = include_str!("../../../tests/data/dockerfiles/leaky.Dockerfile");

/// The scenario's expectations.
fn scenario(base: &str) -> LintOptions {
    LintOptions {
        expect_port: Some(8080),
        expect_base: Some(base.to_string()),
        secret_ids: vec!["api_key".to_string()],
    }
}

/// `(rule, line)` of every finding.
fn found(text: &str, opts: &LintOptions) -> Vec<(&'static str, usize)> {
    lint(&parse(text), opts)
        .into_iter()
        .map(|l| (l.rule, l.line))
        .collect()
}

/// Lines at which `rule` fires.
fn lines_of(text: &str, opts: &LintOptions, rule: &str) -> Vec<usize> {
    found(text, opts)
        .into_iter()
        .filter(|(r, _)| *r == rule)
        .map(|(_, l)| l)
        .collect()
}

/// Asserts `rule` fires on `bad` at `line` and not at all on `good`.
fn pair(rule: &str, opts: &LintOptions, bad: &str, line: usize, good: &str) {
    assert_eq!(lines_of(bad, opts, rule), vec![line], "{rule} on:\n{bad}");
    assert!(
        lines_of(good, opts, rule).is_empty(),
        "{rule} false positive on:\n{good}\n{:?}",
        found(good, opts)
    );
}

/// A minimal clean final stage to append to build stages.
const CLEAN_FINAL: &str =
    "FROM scratch\nCOPY --from=b /out/app /app\nUSER 65532\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n";

#[test]
fn rules_table_is_complete_and_consistent() {
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len(), "duplicate rule ids");
    for (id, severity, description) in RULES {
        assert!(
            id.starts_with("dockerfile.")
                && id[11..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
        );
        assert!(["critical", "high", "medium", "low", "info"].contains(severity));
        assert!(!description.is_empty());
    }
    let all = [SEED_EXPECTED, SEED_SINGLE, LEAKY, "FROM x\nCMD a\n---\n"];
    for text in all {
        for finding in lint(&parse(text), &scenario("scratch")) {
            let rule = RULES
                .iter()
                .find(|r| r.0 == finding.rule)
                .expect("rule listed");
            assert_eq!(finding.severity, rule.1);
            assert!(!finding.message.contains('\n') && !finding.remediation.contains('\n'));
        }
    }
}

#[test]
fn parse_error() {
    pair(
        "dockerfile.parse-error",
        &LintOptions::default(),
        "FROM a\n\n---\nRUN x\n",
        3,
        "FROM a\nRUN x\n",
    );
}

#[test]
fn syntax_directive() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.syntax-directive",
        &opts,
        "# syntax=docker/dockerfile:1.4\nFROM a\n",
        1,
        "# check=skip=all\nFROM a\n",
    );
}

#[test]
fn single_stage_toolchain() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.single-stage-toolchain",
        &opts,
        "# build\nFROM golang:1.22\nCOPY . .\nRUN go build -o /app\n",
        2,
        "FROM golang:1.22\nRUN go version\n",
    );
    assert!(lines_of(
        &format!("FROM golang AS b\nRUN go build\n{CLEAN_FINAL}"),
        &opts,
        "dockerfile.single-stage-toolchain"
    )
    .is_empty());
    assert_eq!(
        lines_of(
            "FROM rust:1\nRUN cargo build --release\n",
            &opts,
            "dockerfile.single-stage-toolchain"
        ),
        vec![1]
    );
}

#[test]
fn final_stage_toolchain() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.final-stage-toolchain",
        &opts,
        "FROM golang:1.22 AS b\nRUN go build -o /out/app\nFROM b AS final\nCMD [\"/out/app\"]\n",
        3,
        &format!("FROM golang:1.22 AS b\nRUN go build\n{CLEAN_FINAL}"),
    );
}

#[test]
fn unexpected_base() {
    let opts = scenario("alpine:3.19");
    pair(
        "dockerfile.unexpected-base",
        &opts,
        "FROM golang AS b\nFROM alpine:3.18\n",
        2,
        "FROM golang AS b\nFROM docker.io/library/alpine:3.19.1\n",
    );
    let either = scenario("alpine:3.19|scratch");
    assert!(lines_of("FROM scratch\n", &either, "dockerfile.unexpected-base").is_empty());
    let via_arg = "ARG BASE=alpine:3.19\nFROM golang AS b\nFROM ${BASE} AS base\nFROM base\n";
    assert!(lines_of(via_arg, &opts, "dockerfile.unexpected-base").is_empty());
}

#[test]
fn secret_in_copy() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.secret-in-copy",
        &opts,
        "FROM a\nCOPY go.mod go.sum ./\nCOPY --chown=app api-private-key.pem /app/\n",
        3,
        "FROM a\nCOPY go.mod ./\nCOPY --from=b /etc/ssl/cert.pem /etc/ssl/cert.pem\nCOPY id_rsa.pub /root/\n",
    );
    assert_eq!(
        lines_of(
            "FROM a\nCOPY <<EOF /app/.env\nKEY=1\nEOF\n",
            &opts,
            "dockerfile.secret-in-copy"
        ),
        vec![2]
    );
    assert_eq!(
        lines_of(
            "FROM a\nADD [\"certs/client.p12\", \"/c\"]\n",
            &opts,
            "dockerfile.secret-in-copy"
        ),
        vec![2]
    );
}

#[test]
fn secret_in_arg() {
    let opts = scenario("scratch");
    pair(
        "dockerfile.secret-in-arg",
        &opts,
        "FROM a\nARG VERSION=1 NPM_TOKEN\n",
        2,
        "FROM a\nARG VERSION=1 API_KEY_FILE=/run/secrets/api_key GPG_KEY\n",
    );
    assert_eq!(
        lines_of("ARG api_key\nFROM a\n", &opts, "dockerfile.secret-in-arg"),
        vec![1]
    );
}

#[test]
fn secret_in_env() {
    let opts = scenario("scratch");
    pair(
        "dockerfile.secret-in-env",
        &opts,
        "FROM a\nARG K\nENV A=1 \\\n    PAYMENT_API_KEY=$K\n",
        3,
        "FROM a\nENV DB_PASSWORD= DB_PASSWORD_FILE=/run/secrets/db CGO_ENABLED=0\n",
    );
    assert_eq!(
        lines_of(
            "FROM a\nENV DB_PASSWORD hunter2\n",
            &opts,
            "dockerfile.secret-in-env"
        ),
        vec![2]
    );
}

#[test]
fn secret_copied_to_layer() {
    let opts = LintOptions::default();
    let rule = "dockerfile.secret-copied-to-layer";
    pair(
        rule,
        &opts,
        "FROM a\nRUN --mount=type=secret,id=api_key cp /run/secrets/api_key /app/key\n",
        2,
        "FROM a\nRUN --mount=type=secret,id=api_key API_KEY=$(cat /run/secrets/api_key) go test ./... 2>/dev/null\n",
    );
    let cases = [
        "FROM a\nRUN --mount=type=secret,id=k cat /run/secrets/k > /app/k\n",
        "FROM a\nRUN --mount=type=secret,id=k echo \"K=$(cat /run/secrets/k)\" >> .env\n",
        "FROM a\nRUN --mount=type=secret,id=k cat /run/secrets/k | base64 | tee /k.b64\n",
        "FROM a\nRUN go test ./... < /run/secrets/k\n",
        "FROM a\nRUN --mount=type=secret,id=k,target=/root/k.pem cp /root/k.pem /app/\n",
        "FROM a\nRUN --mount=type=secret,id=k <<EOF\ncp /run/secrets/k /srv/k\nEOF\n",
    ];
    for case in cases {
        assert_eq!(lines_of(case, &opts, rule), vec![2], "{case}");
    }
    let fine = [
        "FROM a\nRUN --mount=type=secret,id=k cp /run/secrets/k /tmp/k && make && rm -f /tmp/k\n",
        "FROM a\nRUN --mount=type=secret,id=k cat /run/secrets/k >/dev/null\n",
        "FROM a\nRUN --mount=type=secret,target=/run/secrets/k test -s /run/secrets/k\n",
    ];
    for case in fine {
        assert!(lines_of(case, &opts, rule).is_empty(), "{case}");
    }
}

#[test]
fn secret_not_mounted() {
    let opts = scenario("scratch");
    pair(
        "dockerfile.secret-not-mounted",
        &opts,
        "FROM golang AS b\nRUN --mount=type=secret,id=other go test\n",
        1,
        "FROM golang AS b\nRUN --mount=type=secret,target=/run/secrets/api_key go test\n",
    );
    assert!(lines_of(
        "FROM a\n",
        &LintOptions::default(),
        "dockerfile.secret-not-mounted"
    )
    .is_empty());
}

#[test]
fn deps_not_cached() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.deps-not-cached",
        &opts,
        "FROM golang AS b\nWORKDIR /src\nCOPY . .\nRUN go build -o /app\n",
        3,
        "FROM golang AS b\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\nRUN go build -o /app\n",
    );
    let fine = [
        "FROM golang AS b\nCOPY . .\nRUN --mount=type=cache,target=/go/pkg/mod go build\n",
        "FROM golang AS b\nRUN --mount=type=bind,source=go.mod,target=go.mod go mod download\nCOPY . .\nRUN go build\n",
        "FROM node AS b\nCOPY package*.json package-lock.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\n",
    ];
    for case in fine {
        assert!(
            lines_of(case, &opts, "dockerfile.deps-not-cached").is_empty(),
            "{case}"
        );
    }
    let npm = "FROM node AS b\nCOPY . .\nRUN npm ci && npm run build\n";
    assert_eq!(lines_of(npm, &opts, "dockerfile.deps-not-cached"), vec![2]);
    let half = "FROM golang AS b\nCOPY go.mod ./\nCOPY . .\nRUN go mod download && go build\n";
    assert_eq!(lines_of(half, &opts, "dockerfile.deps-not-cached"), vec![3]);
}

#[test]
fn go_not_static() {
    let opts = LintOptions::default();
    let rule = "dockerfile.go-not-static";
    pair(
        rule,
        &opts,
        &format!("FROM golang AS b\nRUN go build -o /out/app\n{CLEAN_FINAL}"),
        2,
        &format!("FROM golang AS b\nRUN CGO_ENABLED=0 go build -o /out/app\n{CLEAN_FINAL}"),
    );
    let fine = [
        format!("FROM golang AS b\nENV CGO_ENABLED=0\nRUN go build\n{CLEAN_FINAL}"),
        format!("FROM golang AS b\nARG CGO_ENABLED=0\nRUN go build\n{CLEAN_FINAL}"),
        format!("FROM golang AS b\nRUN export CGO_ENABLED=0 && go build\n{CLEAN_FINAL}"),
        format!("FROM golang AS b\nRUN go env -w CGO_ENABLED=0\nRUN env CGO_ENABLED=0 go build\n{CLEAN_FINAL}"),
        "FROM golang:1.22-alpine AS b\nRUN go build\nFROM alpine:3.19\n".to_string(),
    ];
    for case in &fine {
        assert!(lines_of(case, &opts, rule).is_empty(), "{case}");
    }
    let glibc_to_musl =
        "FROM golang:1.22 AS b\nRUN go build -o /app\nFROM alpine:3.19\nCOPY --from=b /app /app\n";
    assert_eq!(lines_of(glibc_to_musl, &opts, rule), vec![2]);
}

#[test]
fn go_not_stripped_and_no_trimpath() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.go-not-stripped",
        &opts,
        "FROM golang AS b\nRUN go build -ldflags=\"-X main.v=1\" -o app\n",
        2,
        "FROM golang AS b\nRUN go build -ldflags '-w -s -X main.v=1' -o app\n",
    );
    pair(
        "dockerfile.go-no-trimpath",
        &opts,
        "FROM golang AS b\nRUN go install ./cmd/server\n",
        2,
        "FROM golang AS b\nRUN go build -trimpath . && go install golang.org/x/tools/cmd/stringer@latest\n",
    );
}

#[test]
fn shell_form() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.shell-form-on-scratch",
        &opts,
        "FROM golang AS b\nFROM scratch\nCMD [\"/app\"]\nENTRYPOINT /app serve\n",
        4,
        "FROM golang AS b\nFROM scratch\nCMD /app serve\nCMD [\"/app\"]\n",
    );
    assert_eq!(
        lines_of(
            "FROM gcr.io/distroless/static\nHEALTHCHECK CMD /app health\n",
            &opts,
            "dockerfile.shell-form-on-scratch"
        ),
        vec![2]
    );
    pair(
        "dockerfile.shell-form-cmd",
        &opts,
        "FROM alpine\nCMD ./app\n",
        2,
        "FROM alpine\nCMD [\"./app\"]\nHEALTHCHECK CMD wget -q localhost\n",
    );
}

#[test]
fn runs_as_root() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.runs-as-root",
        &opts,
        "FROM alpine\nRUN x\n",
        1,
        "FROM alpine\nUSER root\nUSER app\n",
    );
    assert_eq!(
        lines_of(
            "FROM alpine\nUSER app\nUSER 0:0\n",
            &opts,
            "dockerfile.runs-as-root"
        ),
        vec![3]
    );
    assert!(lines_of(
        "FROM gcr.io/distroless/static:nonroot\n",
        &opts,
        "dockerfile.runs-as-root"
    )
    .is_empty());
    let inherited = "FROM alpine AS base\nUSER 10001\nFROM base\n";
    assert!(lines_of(inherited, &opts, "dockerfile.runs-as-root").is_empty());
}

#[test]
fn expose_mismatch() {
    let opts = scenario("alpine:3.19");
    pair(
        "dockerfile.expose-mismatch",
        &opts,
        "FROM alpine:3.19\nEXPOSE 80 8080/udp\n",
        2,
        "FROM alpine:3.19\nARG PORT=8080\nEXPOSE 9090 ${PORT}/tcp\n",
    );
    assert_eq!(
        lines_of(
            "FROM a\nFROM alpine:3.19\n",
            &opts,
            "dockerfile.expose-mismatch"
        ),
        vec![2]
    );
    assert!(lines_of(
        "FROM alpine\n",
        &LintOptions::default(),
        "dockerfile.expose-mismatch"
    )
    .is_empty());
}

#[test]
fn copies_build_tree() {
    let opts = LintOptions::default();
    let rule = "dockerfile.copies-build-tree";
    pair(
        rule,
        &opts,
        "FROM golang AS b\nWORKDIR /app\nRUN go build -o app\nFROM alpine\nCOPY --from=b /app /app\n",
        5,
        "FROM golang AS b\nWORKDIR /app\nRUN go build -o app\nFROM alpine\nCOPY --from=b /app/app /app\nCOPY --from=b /etc/ssl/certs/ /etc/ssl/certs/\n",
    );
    for source in ["/", ".", "/go/bin", "/app/", "/app/*"] {
        let text = format!(
            "FROM golang AS b\nWORKDIR /app/src\nFROM scratch\nCOPY --from=b {source} /x\n"
        );
        assert_eq!(lines_of(&text, &opts, rule), vec![4], "{source}");
    }
}

#[test]
fn sources_in_final_image() {
    let opts = LintOptions::default();
    pair(
        "dockerfile.sources-in-final-image",
        &opts,
        "FROM golang AS b\nFROM alpine\nCOPY . /app\n",
        3,
        "FROM golang AS b\nCOPY . .\nFROM alpine\nCOPY --from=b /app/app /app\n",
    );
    assert!(lines_of(
        "FROM alpine\nCOPY . .\n",
        &opts,
        "dockerfile.sources-in-final-image"
    )
    .is_empty());
}

#[test]
fn seed_expected_solution() {
    let findings = lint(&parse(SEED_EXPECTED), &scenario("alpine:3.19"));
    let parse_errors: Vec<_> = findings
        .iter()
        .filter(|l| l.rule == "dockerfile.parse-error")
        .collect();
    assert_eq!(parse_errors.len(), 1);
    assert_eq!(parse_errors[0].line, 24);
    assert!(parse_errors[0].message.contains("unknown instruction: ---"));
    assert_eq!(SEED_EXPECTED.lines().nth(23), Some("---"));
    for rule in [
        "dockerfile.secret-in-copy",
        "dockerfile.secret-in-arg",
        "dockerfile.secret-in-env",
        "dockerfile.secret-copied-to-layer",
        "dockerfile.secret-not-mounted",
        "dockerfile.single-stage-toolchain",
        "dockerfile.final-stage-toolchain",
        "dockerfile.unexpected-base",
        "dockerfile.expose-mismatch",
        "dockerfile.deps-not-cached",
        "dockerfile.copies-build-tree",
        "dockerfile.shell-form-cmd",
        "dockerfile.go-not-static",
    ] {
        assert!(
            findings.iter().all(|l| l.rule != rule),
            "{rule}: {findings:#?}"
        );
    }
    let rest: Vec<_> = findings.iter().map(|l| (l.rule, l.line)).collect();
    assert_eq!(
        rest,
        vec![
            ("dockerfile.syntax-directive", 1),
            ("dockerfile.go-no-trimpath", 20),
            ("dockerfile.go-not-stripped", 20),
            ("dockerfile.parse-error", 24),
            ("dockerfile.runs-as-root", 27),
        ]
    );
    let df = parse(SEED_EXPECTED);
    assert_eq!(df.stages.len(), 2);
    assert_eq!(
        (df.stages[1].from_line, df.stages[1].instructions.len()),
        (27, 4)
    );
}

#[test]
fn seed_single_stage() {
    let findings = found(SEED_SINGLE, &scenario("alpine:3.19"));
    assert!(
        findings.contains(&("dockerfile.single-stage-toolchain", 1)),
        "{findings:?}"
    );
    assert!(findings.contains(&("dockerfile.unexpected-base", 1)));
    assert!(findings.contains(&("dockerfile.secret-not-mounted", 1)));
    assert!(!findings.iter().any(
        |(r, _)| *r == "dockerfile.deps-not-cached" || *r == "dockerfile.final-stage-toolchain"
    ));
}

#[test]
fn good_scratch_dockerfile_passes_everything() {
    let findings = lint(&parse(GOOD_SCRATCH), &scenario("scratch"));
    assert!(findings.is_empty(), "{findings:#?}");
    let findings = lint(&parse(GOOD_SCRATCH), &scenario("alpine:3.19|scratch"));
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn leaky_dockerfile_fails_the_secret_rules() {
    let findings = found(LEAKY, &scenario("alpine:3.19"));
    for expected in [
        ("dockerfile.secret-in-arg", 2),
        ("dockerfile.secret-in-env", 3),
        ("dockerfile.secret-in-copy", 5),
        ("dockerfile.deps-not-cached", 6),
        ("dockerfile.secret-copied-to-layer", 7),
        ("dockerfile.go-not-static", 7),
        ("dockerfile.copies-build-tree", 10),
        ("dockerfile.shell-form-cmd", 11),
        ("dockerfile.expose-mismatch", 9),
    ] {
        assert!(findings.contains(&expected), "{expected:?} in {findings:?}");
    }
}

#[test]
fn fenced_blocks_map_back_to_markdown_lines() {
    let md = format!("# Seed\n\nSome text.\n\n```dockerfile\n{SEED_EXPECTED}```\n\n```bash\ndocker build .\n```\n");
    let blocks = extract_fenced(&md);
    assert_eq!(blocks.len(), 1);
    let (offset, body) = &blocks[0];
    let error = &parse(body).errors[0];
    assert_eq!(md.lines().nth(offset + error.line - 1), Some("---"));
    assert_eq!(offset + error.line, 29);
}

#[test]
fn never_panics_on_junk_or_truncated_input() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet =
        "FROMRUNCOPYARGENV --mount=type=secret,id=k\\`\"'$({[<<EOF\n\t#=:/.*-|&>;é\u{feff}\r";
    let alphabet: Vec<char> = alphabet.chars().collect();
    for _ in 0..3000 {
        let len = (next() % 120) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        for input in [text, String::from_utf8_lossy(&bytes).into_owned()] {
            let df = parse(&input);
            lint(&df, &scenario("alpine:3.19|scratch"));
            for instr in df.stages.iter().flat_map(|s| &s.instructions) {
                history_matches_is_total(instr, &input);
            }
        }
    }
    for source in [SEED_EXPECTED, GOOD_SCRATCH, LEAKY, SEED_SINGLE] {
        for cut in (0..source.len()).filter(|i| source.is_char_boundary(*i)) {
            lint(&parse(&source[..cut]), &scenario("scratch"));
        }
    }
}

/// Calls the history matcher on arbitrary text (it must not panic).
fn history_matches_is_total(instr: &crate::dockerfile::Instruction, text: &str) {
    for line in text.lines().take(3) {
        crate::dockerfile::history_matches(instr, line);
    }
}
