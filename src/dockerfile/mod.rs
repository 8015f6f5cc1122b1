//! Dockerfile parsing, linting and history cross-checking.
//!
//! - [`parse`] reads a Dockerfile the way BuildKit's frontend does (parser
//!   directives, `# escape=`, continuations with comments inside, heredocs,
//!   exec/shell form, flags) and keeps going after errors.
//! - [`lint()`] judges it against the multi-stage, secret-mount scenario
//!   (see [`RULES`] for every check id).
//! - [`history_matches`] tells whether an image config history entry was
//!   written for a given instruction, so an image can be checked against the
//!   Dockerfile that supposedly built it.
//! - [`extract_fenced`] pulls ```` ```dockerfile ```` blocks out of Markdown.
//!
//! # What builders write into the image history (observed)
//!
//! Checked with Docker Engine 20.10.24 (Debian build, BuildKit built in,
//! `DOCKER_BUILDKIT=1 docker build`, no `# syntax=` line) on `alpine:3.11`
//! and `scratch`, reading `docker history --no-trunc` and the config's
//! `history` in `docker save`:
//!
//! ```text
//! ARG VERSION=1.2.3                      → ARG VERSION=1.2.3                (Dockerfile default, even with --build-arg VERSION=9.9)
//! ARG VERSION=1.2.3 MODE=dev             → ARG VERSION=1.2.3 MODE=dev      (one entry per instruction)
//! ARG OTHER                              → ARG OTHER
//! ENV GOFLAGS=-mod=mod K2="v 2"          → ENV GOFLAGS=-mod=mod K2=v 2      (quotes gone)
//! ENV LEGACY some value here             → ENV LEGACY=some value here
//! ENV TOKEN=$API_TOKEN                   → ENV TOKEN=tok123                (expanded: a build-arg secret leaks here too)
//! WORKDIR /app | WORKDIR sub             → WORKDIR /app | WORKDIR /sub     (resolved to absolute)
//! COPY a.txt src/ ./                     → COPY a.txt src/ ./ # buildkit
//! COPY --from=builder /app/app .         → COPY /app/app . # buildkit      (--from dropped)
//! COPY --chown=1000:1000 --chmod=0644 a /etc/a → COPY a /etc/a # buildkit (--chown/--chmod dropped)
//! ADD a.txt /b.txt                       → ADD a.txt /b.txt # buildkit
//! RUN --mount=type=secret,id=api_key cat /run/secrets/api_key | wc -c > /app/len.txt
//!                                        → RUN |1 VERSION=1.2.3 /bin/sh -c cat /run/secrets/api_key | wc -c > /app/len.txt # buildkit
//!                                          (--mount dropped; every RUN after `ARG X` is prefixed `|N X=value …`,
//!                                           with the --build-arg value: `RUN |3 API_TOKEN=tok123 VERSION=9.9 MODE=dev …`;
//!                                           an ARG without value shows as `OTHER=`; RUN text is not expanded)
//! RUN ["/bin/echo", "exec form", "$VERSION"] → RUN |3 … /bin/echo exec form $VERSION # buildkit
//! SHELL ["/bin/sh", "-ec"]               → SHELL [/bin/sh -ec]; later RUNs show `/bin/sh -ec …`
//! LABEL t="pay svc" a=b                  → LABEL t=pay svc a=b
//! EXPOSE 8080 9090/udp                   → EXPOSE map[8080/tcp:{} 9090/udp:{}]
//! USER 65532:65532 | STOPSIGNAL SIGTERM  → same text
//! VOLUME ["/data"]                       → VOLUME [/data]
//! HEALTHCHECK --interval=30s CMD ["/app","health"]
//!                                        → HEALTHCHECK &{["CMD" "/app" "health"] "30s" "0s" "0s" '\x00'}
//! ENTRYPOINT ["./app"]                   → ENTRYPOINT ["./app"]
//! CMD ["serve", "--port", "8080"]        → CMD ["serve" "--port" "8080"]  (Go %q list: no commas)
//! CMD echo shell form $VERSION           → CMD ["/bin/sh" "-ec" "echo shell form $VERSION"] (current SHELL)
//! ONBUILD RUN echo onbuild               → no history entry (only config OnBuild: ["RUN echo onbuild"])
//! FROM …                                 → no entry; the base image's history comes first
//! ```
//!
//! Metadata-only entries (ARG, ENV, LABEL, EXPOSE, USER, CMD…) carry
//! `"empty_layer": true`; WORKDIR, COPY, ADD and RUN create a layer each
//! and carry `"comment": "buildkit.dockerfile.v0"` like the others. The
//! classic builder (`DOCKER_BUILDKIT=0`) instead writes
//! `/bin/sh -c #(nop)  ARG VERSION=1.2.3`, `/bin/sh -c #(nop) WORKDIR /app`,
//! `/bin/sh -c #(nop) COPY file:<sha256> in ./ ` (`dir:`/`multi:` too),
//! and RUN as `|1 VERSION=1.2.3 /bin/sh -c echo …` without the `RUN` word
//! (exec form: `|1 VERSION=1.2.3 /bin/echo exec`). A stray `---` line
//! fails both builders with `dockerfile parse error line 4: unknown
//! instruction: ---`; the 20.10 built-in frontend does not know heredocs
//! (`unknown instruction: ECHO` for a heredoc body line).

mod ast;
mod expand;
mod fenced;
mod history;
mod instruction;
mod lexer;
mod lint;
mod map;
mod parse;
mod shell;

pub use ast::{Args, Directive, Dockerfile, Flag, Heredoc, Instruction, Mount, ParseError, Stage};
pub use fenced::extract_fenced;
pub use history::history_matches;
pub use lint::{lint, ImageRef, Lint, LintOptions, RULES};
pub use map::map_history;
pub use parse::parse;
