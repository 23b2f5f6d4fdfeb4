//! `COPY`, `ADD` and `WORKDIR` → `FileOp` (and `MergeOp` for `--link`).

use crate::compile::Compiler;
use crate::error::LlbError;
use crate::graph::{self, OutputRef};
use crate::paths;
use crate::sources;
use crate::state::{StageState, chown_opt};
use bollard_buildkit_proto::pb;
use strata_plan::{CopyStep, Step};

/// One copy action waiting for its input indexes.
struct Pending {
    source: Option<OutputRef>,
    copy: pb::FileActionCopy,
}

impl Compiler<'_> {
    /// Adds the vertices of a `COPY` or `ADD`.
    pub(crate) fn copy(
        &mut self,
        st: &mut StageState,
        step: &Step,
        copy: &CopyStep,
    ) -> Result<(), LlbError> {
        let line = step.span.start_line;
        let srcs = &copy.sources;
        if srcs.paths.is_empty() && srcs.heredocs.is_empty() {
            return Err(LlbError::NoSources { line });
        }
        if copy.checksum.is_some() {
            let single_http = copy.add
                && srcs.paths.len() == 1
                && srcs.heredocs.is_empty()
                && sources::is_url(&srcs.paths[0])
                && !sources::is_git(&srcs.paths[0]);
            if !single_http {
                return Err(LlbError::ChecksumNotHttp { line });
            }
        }
        let (mode, mode_str) = parse_chmod(copy.chmod.as_deref(), line)?;
        let dest = paths::join_keep_slash(&st.cwd, &copy.dest);
        // `--link` copies onto scratch and merges, unless --chmod is given.
        let link = copy.link && copy.chmod.is_none();
        let name = st.progress_name(&step.text);

        let base_action = pb::FileActionCopy {
            dest: dest.clone(),
            mode,
            mode_str: mode_str.clone(),
            exclude_patterns: copy.exclude.clone(),
            timestamp: -1,
            create_dest_path: true,
            ..Default::default()
        };
        let mut pending = Vec::new();
        for src in &srcs.paths {
            if copy.add && sources::is_git(src) {
                let source = sources::git(
                    &mut self.graph,
                    src,
                    copy.keep_git_dir,
                    &self.platform,
                    &name,
                );
                pending.push(Pending {
                    source: Some(source),
                    copy: pb::FileActionCopy {
                        src: "/".to_string(),
                        ..base_action.clone()
                    },
                });
            } else if sources::is_url(src) || sources::is_git(src) {
                if !copy.add {
                    return Err(LlbError::UrlInCopy {
                        source_path: src.clone(),
                        line,
                    });
                }
                let (source, filename) = sources::http(
                    &mut self.graph,
                    src,
                    copy.checksum.as_deref(),
                    &self.platform,
                    &name,
                );
                pending.push(Pending {
                    source: Some(source),
                    copy: pb::FileActionCopy {
                        src: format!("/{filename}"),
                        attempt_unpack_docker_compatibility: copy.unpack == Some(true),
                        ..base_action.clone()
                    },
                });
            } else {
                let source = self.copy_source(&copy.from, line, &st.platform)?;
                let (root, include) = if copy.parents {
                    let (root, pattern) = src.split_once("/./").unwrap_or(("/", src));
                    let pattern = paths::clean(&format!("/{pattern}"));
                    (root, vec![pattern.trim_start_matches('/').to_string()])
                } else {
                    (src.as_str(), Vec::new())
                };
                pending.push(Pending {
                    source,
                    copy: pb::FileActionCopy {
                        src: paths::clean(&format!("/{root}")),
                        follow_symlink: true,
                        dir_copy_contents: true,
                        attempt_unpack_docker_compatibility: copy.add
                            && copy.unpack.unwrap_or(true),
                        allow_wildcard: true,
                        allow_empty_wildcard: true,
                        include_patterns: include,
                        ..base_action.clone()
                    },
                });
            }
        }
        for doc in &srcs.heredocs {
            let path = paths::clean(&format!("/{}", doc.name));
            let source = self.scratch_file(&path, 0o644, doc.content.as_bytes(), &st.platform);
            pending.push(Pending {
                source: Some(source),
                copy: pb::FileActionCopy {
                    src: path,
                    ..base_action.clone()
                },
            });
        }

        // Inputs: the destination first, then each source once, in order.
        let base = if link { None } else { st.root.clone() };
        let mut inputs: Vec<pb::Input> = Vec::new();
        let mut index_of = |r: &Option<OutputRef>| -> i64 {
            let Some(r) = r else { return -1 };
            let wanted = r.to_input();
            match inputs.iter().position(|i| *i == wanted) {
                Some(i) => i as i64,
                None => {
                    inputs.push(wanted);
                    inputs.len() as i64 - 1
                }
            }
        };
        let base_index = index_of(&base);
        let secondary: Vec<i64> = pending.iter().map(|p| index_of(&p.source)).collect();
        let n_inputs = inputs.len() as i64;
        let last = pending.len().saturating_sub(1);
        let mut actions = Vec::new();
        for (i, (p, secondary_input)) in pending.into_iter().zip(secondary).enumerate() {
            // Later actions apply on the previous action's result, addressed
            // past the real inputs.
            let input = if i == 0 {
                base_index
            } else {
                n_inputs + i as i64 - 1
            };
            let mut action = p.copy;
            action.owner = copy.chown.as_deref().and_then(|c| chown_opt(c, input));
            actions.push(pb::FileAction {
                input,
                secondary_input,
                output: if i == last { 0 } else { -1 },
                action: Some(pb::file_action::Action::Copy(action)),
            });
        }
        let op = pb::Op {
            inputs,
            platform: Some(st.platform.clone()),
            constraints: Some(pb::WorkerConstraints::default()),
            op: Some(pb::op::Op::File(pb::FileOp { actions })),
        };
        let copied = self.graph.add(&op, graph::named(&name, Some(&step.text)));
        st.root = match (&st.root, link) {
            (Some(root), true) => {
                let merge = pb::Op {
                    inputs: vec![root.to_input(), copied.to_input()],
                    platform: Some(st.platform.clone()),
                    constraints: Some(pb::WorkerConstraints::default()),
                    op: Some(pb::op::Op::Merge(pb::MergeOp {
                        inputs: vec![pb::MergeInput { input: 0 }, pb::MergeInput { input: 1 }],
                    })),
                };
                let merge_name = st.same_progress_name(&format!("LINK {}", step.text));
                Some(
                    self.graph
                        .add(&merge, graph::named(&merge_name, Some(&step.text))),
                )
            }
            _ => Some(copied),
        };
        Ok(())
    }

    /// `WORKDIR`: moves the working directory and creates it (owned by the
    /// current user) unless it is `/`.
    pub(crate) fn workdir(&mut self, st: &mut StageState, step: &Step, dir: &str) {
        let wd = paths::join(&st.cwd, dir);
        st.cwd = wd.clone();
        if wd == "/" {
            return;
        }
        let name = st.progress_name(&step.text);
        let input = if st.root.is_some() { 0 } else { -1 };
        let action = pb::file_action::Action::Mkdir(pb::FileActionMkDir {
            path: wd,
            mode: 0o755,
            make_parents: true,
            owner: chown_opt(&st.user, input),
            timestamp: -1,
        });
        let op = file_op(st.root.as_ref(), action, &st.platform);
        st.root = Some(self.graph.add(&op, graph::named(&name, Some(&step.text))));
    }

    /// A scratch filesystem holding one file (heredoc documents).
    pub(crate) fn scratch_file(
        &mut self,
        path: &str,
        mode: i32,
        data: &[u8],
        platform: &pb::Platform,
    ) -> OutputRef {
        let action = pb::file_action::Action::Mkfile(pb::FileActionMkFile {
            path: path.to_string(),
            mode,
            data: data.to_vec(),
            owner: None,
            timestamp: -1,
        });
        self.single_file_action(
            None,
            action,
            platform,
            "[internal] preparing inline document",
        )
    }

    /// A `FileOp` with one action on `base`, named `name`.
    pub(crate) fn single_file_action(
        &mut self,
        base: Option<OutputRef>,
        action: pb::file_action::Action,
        platform: &pb::Platform,
        name: &str,
    ) -> OutputRef {
        let op = file_op(base.as_ref(), action, platform);
        self.graph.add(&op, graph::named(name, None))
    }
}

fn file_op(
    base: Option<&OutputRef>,
    action: pb::file_action::Action,
    platform: &pb::Platform,
) -> pb::Op {
    pb::Op {
        inputs: base.map(|b| vec![b.to_input()]).unwrap_or_default(),
        platform: Some(platform.clone()),
        constraints: Some(pb::WorkerConstraints::default()),
        op: Some(pb::op::Op::File(pb::FileOp {
            actions: vec![pb::FileAction {
                input: if base.is_some() { 0 } else { -1 },
                secondary_input: -1,
                output: 0,
                action: Some(action),
            }],
        })),
    }
}

/// `--chmod`: octal up to 07777 becomes `mode`; a symbolic mode goes to
/// `modeStr` with `mode` left unset (-1). No `--chmod` is `(-1, "")`.
pub(crate) fn parse_chmod(value: Option<&str>, line: usize) -> Result<(i32, String), LlbError> {
    let Some(v) = value else {
        return Ok((-1, String::new()));
    };
    let invalid = || LlbError::InvalidChmod {
        value: v.to_string(),
        line,
    };
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return match u32::from_str_radix(v, 8) {
            Ok(m) if m <= 0o7777 => Ok((m as i32, String::new())),
            _ => Err(invalid()),
        };
    }
    // Symbolic as chmod(1), which BuildKit's setmode port reads.
    if strata_plan::Chmod::parse(v).is_ok() {
        Ok((-1, v.to_string()))
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_octal_symbolic_and_invalid() {
        assert_eq!(parse_chmod(None, 1).unwrap(), (-1, String::new()));
        assert_eq!(parse_chmod(Some("755"), 1).unwrap(), (0o755, String::new()));
        assert_eq!(
            parse_chmod(Some("u+x,g-w"), 1).unwrap(),
            (-1, "u+x,g-w".into())
        );
        assert!(matches!(
            parse_chmod(Some("17777"), 7),
            Err(LlbError::InvalidChmod { line: 7, .. })
        ));
        assert!(parse_chmod(Some("89"), 1).is_err());
        assert!(parse_chmod(Some("u+q"), 1).is_err());
        assert!(parse_chmod(Some("rwx"), 1).is_err());
    }
}
