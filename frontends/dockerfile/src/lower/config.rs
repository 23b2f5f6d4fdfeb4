//! Instructions that change the stage's state or the image configuration:
//! ARG, ENV, LABEL, WORKDIR, EXPOSE and HEALTHCHECK.

use super::{Lowering, Site, join};
use crate::error::DockerfileError;
use crate::instructions::{self, ArgDecl, Expandable, KeyValue};
use crate::parser::Node;
use strata_plan::{Healthcheck, HealthcheckTest};

impl Lowering<'_, '_> {
    /// `ARG` inside a stage: the value comes from `--build-arg`, else the
    /// default, else a global ARG of the same name. As in BuildKit, every
    /// name and default of the line is expanded before any is declared.
    pub(super) fn stage_arg(
        &mut self,
        node: &Node,
        decls: &[ArgDecl],
    ) -> Result<(), DockerfileError> {
        let mut expanded = Vec::new();
        for decl in decls {
            let name = self.expand(node, decl.name.as_str())?;
            let default = match &decl.default {
                Some(d) => Some(self.expand(node, d.as_str())?),
                None => None,
            };
            expanded.push((name, default));
        }
        for (name, default) in expanded {
            let global = self.global.get(&name).flatten().map(str::to_string);
            let value = self
                .opts
                .build_args
                .get(&name)
                .cloned()
                .or(default)
                .or(global);
            self.consumed.insert(name.clone());
            let index = self.stage_index();
            if let Some(state) = self.states.get_mut(index) {
                state.args.declare(&name, value);
            }
        }
        Ok(())
    }

    /// `ENV`: expanded pairs, which later instructions see. As in Docker,
    /// the pairs of one line are all expanded before any is set
    /// (`ENV a=1 b=$a` gives `b` the previous `a`).
    pub(super) fn env(
        &mut self,
        node: &Node,
        pairs: &[KeyValue],
    ) -> Result<Vec<(String, String)>, DockerfileError> {
        let out = self.key_values(node, pairs)?;
        let index = self.stage_index();
        if let Some(state) = self.states.get_mut(index) {
            for (key, value) in &out {
                state.env.retain(|(k, _)| k != key);
                state.env.push((key.clone(), value.clone()));
            }
        }
        Ok(out)
    }

    /// `LABEL`: expanded pairs.
    pub(super) fn key_values(
        &self,
        node: &Node,
        pairs: &[KeyValue],
    ) -> Result<Vec<(String, String)>, DockerfileError> {
        pairs.iter().map(|p| self.key_value(node, p)).collect()
    }

    fn key_value(&self, node: &Node, pair: &KeyValue) -> Result<(String, String), DockerfileError> {
        let key = self.expand(node, pair.key.as_str())?;
        if key.is_empty() {
            return Err(Site { node }.at(
                &[pair.key.as_str()],
                format!("{} names can not be blank", node.keyword.to_uppercase()),
            ));
        }
        Ok((key, self.expand(node, pair.value.as_str())?))
    }

    /// `WORKDIR`: the path as expanded; the stage's directory follows it.
    pub(super) fn workdir(&mut self, node: &Node, dir: &str) -> Result<String, DockerfileError> {
        let expanded = self.expand(node, dir)?;
        if expanded.is_empty() {
            return Err(Site { node }.at(&[dir], "normalizing workdir: cannot normalize nothing"));
        }
        let index = self.stage_index();
        if let Some(state) = self.states.get_mut(index) {
            state.workdir = join(&state.workdir, &expanded);
        }
        Ok(expanded)
    }

    /// `EXPOSE`: every word expanded and split, then normalised.
    pub(super) fn expose(
        &self,
        node: &Node,
        ports: &[Expandable],
    ) -> Result<Vec<String>, DockerfileError> {
        let mut out = Vec::new();
        for word in ports {
            for port in self.expand_words(node, word.as_str())? {
                let specs =
                    expand_ports(&port).map_err(|m| Site { node }.at(&[word.as_str()], m))?;
                out.extend(specs);
            }
        }
        Ok(out)
    }
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, … (ranges expanded).
fn expand_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let port = |p: &str| -> Result<u16, String> {
        p.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {p}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!(
            "invalid range specified for containerPort: {ports}"
        ));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// `HEALTHCHECK`: nothing is expanded (as in BuildKit); durations were
/// checked by the instruction stage (0 or at least 1ms).
pub(super) fn healthcheck(check: &instructions::Healthcheck) -> Healthcheck {
    let ns = |v: i64| u64::try_from(v).unwrap_or(0);
    match check {
        instructions::Healthcheck::None => Healthcheck {
            test: HealthcheckTest::None,
            interval_ns: 0,
            timeout_ns: 0,
            start_period_ns: 0,
            start_interval_ns: 0,
            retries: 0,
        },
        instructions::Healthcheck::Cmd {
            cmd,
            interval_ns,
            timeout_ns,
            start_period_ns,
            start_interval_ns,
            retries,
        } => Healthcheck {
            test: match cmd {
                instructions::CommandLine::Shell(s) => HealthcheckTest::Shell(s.clone()),
                instructions::CommandLine::Exec(argv) => HealthcheckTest::Exec(argv.clone()),
            },
            interval_ns: ns(*interval_ns),
            timeout_ns: ns(*timeout_ns),
            start_period_ns: ns(*start_period_ns),
            start_interval_ns: ns(*start_interval_ns),
            retries: *retries,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(expand_ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(expand_ports("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(
            expand_ports("8000-8002").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(expand_ports("70000").is_err());
        assert!(expand_ports("80/icmp").is_err());
        assert!(expand_ports("90-80").is_err());
    }
}
