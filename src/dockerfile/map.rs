//! Maps an image's history back to the Dockerfile instructions that wrote
//! it, so a finding can say "introduced by line 14: COPY . .".

use super::ast::{Dockerfile, Instruction};
use super::history::history_matches;

/// Instructions that never write a history entry.
const SILENT: &[&str] = &["FROM", "ONBUILD"];

/// How far a history entry may skip over instructions that wrote nothing
/// (BuildKit omits some, e.g. an ARG without a value in older versions).
const SLACK: usize = 3;

/// For each history entry (oldest first), the instruction of the final
/// stage's chain that wrote it; entries of the base image map to nothing.
/// Also returns the instructions with no history entry of their own, which
/// means the image was not built from this Dockerfile (or not all of it).
pub fn map_history<'a>(
    df: &'a Dockerfile,
    history: &[String],
) -> (Vec<Option<&'a Instruction>>, Vec<&'a Instruction>) {
    let Some(last) = df.final_stage() else {
        return (vec![None; history.len()], vec![]);
    };
    let mut chain = df.chain(last);
    chain.reverse();
    let instructions: Vec<&Instruction> = chain
        .iter()
        .flat_map(|s| s.instructions.iter())
        .filter(|i| !SILENT.contains(&i.keyword.as_str()))
        .collect();
    let mut mapped = vec![None; history.len()];
    let mut used = vec![false; instructions.len()];
    let mut next = instructions.len();
    for (h, created_by) in history.iter().enumerate().rev() {
        if next == 0 {
            break;
        }
        let lowest = next.saturating_sub(SLACK + 1);
        if let Some(k) = (lowest..next)
            .rev()
            .find(|&k| history_matches(instructions[k], created_by))
        {
            mapped[h] = Some(instructions[k]);
            used[k] = true;
            next = k;
        }
    }
    let missing = instructions
        .iter()
        .zip(&used)
        .filter(|(i, u)| !**u && !matches!(i.keyword.as_str(), "ARG" | "SHELL"))
        .map(|(i, _)| *i)
        .collect();
    (mapped, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    #[test]
    fn maps_the_final_stage_and_skips_the_base() {
        let df = parse(
            "FROM alpine:3.19 AS builder\nRUN make\n\nFROM alpine:3.19\nWORKDIR /root/\nCOPY --from=builder /app/app .\nEXPOSE 8080\nCMD [\"./app\"]\n",
        );
        let history: Vec<String> = [
            "/bin/sh -c #(nop) ADD file:abc in / ",
            "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]",
            "WORKDIR /root/",
            "COPY /app/app . # buildkit",
            "EXPOSE map[8080/tcp:{}]",
            "CMD [\"./app\"]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (mapped, missing) = map_history(&df, &history);
        let lines: Vec<Option<usize>> = mapped.iter().map(|m| m.map(|i| i.line)).collect();
        assert_eq!(lines, [None, None, Some(5), Some(6), Some(7), Some(8)]);
        assert!(missing.is_empty());
    }

    #[test]
    fn says_what_the_image_lacks() {
        let df = parse("FROM scratch\nCOPY app /app\nUSER 65534\nENTRYPOINT [\"/app\"]\n");
        let history = vec!["COPY app /app # buildkit".to_string()];
        let (mapped, missing) = map_history(&df, &history);
        assert_eq!(mapped[0].map(|i| i.line), Some(2));
        let lines: Vec<usize> = missing.iter().map(|i| i.line).collect();
        assert_eq!(lines, [3, 4]);
    }
}
