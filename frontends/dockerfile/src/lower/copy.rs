//! `COPY` and `ADD`: sources, heredoc files and flags, expanded and checked.

use super::{Lowering, Site};
use crate::error::DockerfileError;
use crate::instructions::{self, Expandable};
use crate::parser::Node;
use crate::shell::Lexer;
use strata_plan::{CopySource, CopySources, CopyStep, HeredocFile, SourceKind};

impl Lowering<'_, '_> {
    pub(super) fn copy(
        &mut self,
        node: &Node,
        copy: &instructions::Copy,
    ) -> Result<CopyStep, DockerfileError> {
        let site = Site { node };
        let dest = self.expand(node, copy.dest.as_str())?;
        let mut sources = CopySources::default();
        for doc in &copy.heredoc_sources {
            let content = if doc.expand {
                // Quotes in a document are text, not syntax.
                let mut lexer = Lexer::new(self.escape);
                lexer.skip_process_quotes = true;
                let processed = lexer
                    .process(&doc.content, &self.current_env())
                    .map_err(|e| site.at(&[&format!("<<{}", doc.name)], e.to_string()))?;
                self.unmatched.borrow_mut().extend(processed.unmatched);
                processed.word
            } else {
                doc.content.clone()
            };
            sources.heredocs.push(HeredocFile {
                name: doc.name.clone(),
                content,
            });
        }
        for src in &copy.sources {
            sources.paths.push(self.expand(node, src.as_str())?);
        }
        // BuildKit checks the variables of the sources, the destination,
        // --chown and --checksum for UndefinedVar, not those of --chmod,
        // --exclude and --from.
        let flag = |this: &Self, v: &Option<Expandable>, checked: bool| {
            v.as_ref()
                .map(|e| match checked {
                    true => this.expand(node, e.as_str()),
                    false => this.expand_unchecked(node, e.as_str()),
                })
                .transpose()
        };
        let chown = flag(self, &copy.chown, true)?;
        let chmod = flag(self, &copy.chmod, false)?;
        if let Some(mode) = &chmod {
            validate_chmod(mode).map_err(|m| site.at_flag_value("chmod", m))?;
        }
        let checksum = flag(self, &copy.checksum, true)?;
        if let Some(sum) = &checksum {
            validate_checksum(sum, &sources.paths)
                .map_err(|m| site.at_flag_value("checksum", m))?;
        }
        let exclude = copy
            .exclude
            .iter()
            .map(|e| self.expand_unchecked(node, e.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let from = match &copy.from {
            Some(f) => {
                let name = self.expand_unchecked(node, f.as_str())?;
                self.source(node, &name, "--from=")?
            }
            None => CopySource::Context,
        };
        Ok(CopyStep {
            add: copy.add,
            from,
            sources,
            dest,
            chown,
            chmod,
            link: copy.link,
            parents: copy.parents,
            exclude,
            checksum,
            keep_git_dir: copy.keep_git_dir,
            unpack: copy.unpack,
        })
    }
}

/// `--chmod`: octal up to 07777, or symbolic as chmod(1) (`u+x,g-w`,
/// `a=rX`, `g=u`).
fn validate_chmod(mode: &str) -> Result<(), String> {
    if strata_plan::Chmod::parse(mode).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "invalid chmod parameter: '{mode}'. it should be octal string and between 0 and 07777, or symbolic (u+x)"
        ))
    }
}

/// A source `ADD` fetches rather than reads from the context.
fn is_remote(src: &str) -> bool {
    SourceKind::of(src) != SourceKind::Path
}

fn is_git(src: &str) -> bool {
    SourceKind::of(src) == SourceKind::Git
}

/// `ADD --checksum`: one remote source; a digest for HTTP(S), a commit for git.
fn validate_checksum(sum: &str, sources: &[String]) -> Result<(), String> {
    let [src] = sources else {
        return Err("checksum can't be specified for multiple sources".into());
    };
    if !is_remote(src) {
        return Err("checksum requires HTTP(S) or Git sources".into());
    }
    let hex = |s: &str, len: &[usize]| {
        len.contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if is_git(src) {
        if hex(sum, &[40, 64]) {
            return Ok(());
        }
        return Err(format!("invalid checksum {sum:?}: expected a commit hash"));
    }
    let valid = match sum.split_once(':') {
        Some(("sha256", h)) => hex(h, &[64]),
        Some(("sha384", h)) => hex(h, &[96]),
        Some(("sha512", h)) => hex(h, &[128]),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid checksum digest format {sum:?}: expected sha256:<64 hex digits>"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_values() {
        for ok in ["755", "0644", "7777", "u+x", "u+x,g-w,o=r", "a=rX"] {
            validate_chmod(ok).unwrap();
        }
        for bad in ["999", "17777", "u+z", "x", ""] {
            assert!(validate_chmod(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checksums() {
        let url = vec!["https://example.com/a.tar.gz".to_string()];
        let sha = format!("sha256:{}", "a".repeat(64));
        validate_checksum(&sha, &url).unwrap();
        assert!(validate_checksum("sha256:abc", &url).is_err());
        assert!(validate_checksum("md5:abc", &url).is_err());
        let git = vec!["https://github.com/moby/buildkit.git#v0.10.1".to_string()];
        validate_checksum(&"0".repeat(40), &git).unwrap();
        assert!(validate_checksum(&sha, &git).is_err());
        let local = vec!["a.txt".to_string()];
        assert!(
            validate_checksum(&sha, &local)
                .unwrap_err()
                .contains("requires HTTP(S) or Git")
        );
        let two = vec![url[0].clone(), url[0].clone()];
        assert!(
            validate_checksum(&sha, &two)
                .unwrap_err()
                .contains("multiple")
        );
    }
}
