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
            self.secret_lint(node.start_line, "ARG", decl.name.as_str());
            let name = self.expand_unchecked(node, decl.name.as_str())?;
            // BuildKit expands (and checks the variables of) a default only
            // when no build arg gives the value.
            let default = match &decl.default {
                Some(d) if self.opts.build_args.contains_key(&name) => {
                    Some(self.expand_unchecked(node, d.as_str())?)
                }
                Some(d) => Some(self.expand(node, d.as_str())?),
                None => None,
            };
            expanded.push((name, default));
        }
        for (name, default) in expanded {
            let global = self.global.get(&name).flatten().map(str::to_string);
            let given = self.opts.build_args.get(&name).cloned();
            let inherited =
                given.is_none() && default.is_none() && self.global.get(&name).is_some();
            let value = given.or(default).or(global);
            self.outline
                .stage_arg(node, &name, inherited, value.clone());
            self.consumed.insert(name.clone());
            let index = self.stage_index();
            if let Some(state) = self.states.get_mut(index) {
                if value.is_some() {
                    state.env_over_args.remove(&name);
                }
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
                state.env_over_args.insert(key.clone());
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
    /// An empty path (an unset variable) keeps the current directory, as
    /// BuildKit's `NormalizePath` does.
    pub(super) fn workdir(&mut self, node: &Node, dir: &str) -> Result<String, DockerfileError> {
        let expanded = self.expand(node, dir)?;
        let index = self.stage_index();
        if let Some(state) = self.states.get_mut(index) {
            state.workdir = join(&state.workdir, &expanded);
        }
        Ok(expanded)
    }

    /// `EXPOSE`: every word expanded and split, then normalised. As in
    /// BuildKit, an IP address or host port is accepted (the container
    /// port is exposed) with an ExposeInvalidFormat warning.
    pub(super) fn expose(
        &mut self,
        node: &Node,
        ports: &[Expandable],
    ) -> Result<Vec<String>, DockerfileError> {
        let mut out = Vec::new();
        for word in ports {
            for port in self.expand_words(node, word.as_str())? {
                let spec = parse_port(&port).map_err(|m| Site { node }.at(&[word.as_str()], m))?;
                if spec.proto != spec.proto.to_ascii_lowercase() {
                    self.warn_in_stage(
                        node.start_line,
                        "ExposeProtoCasing",
                        format!(
                            "Defined protocol '{port}' in EXPOSE instruction should be lowercase"
                        ),
                    );
                }
                if spec.mapped {
                    self.warn_in_stage(
                        node.start_line,
                        "ExposeInvalidFormat",
                        format!(
                            "EXPOSE instruction should not define an IP address or host-port mapping, found '{port}'"
                        ),
                    );
                }
                out.extend(spec.ports);
            }
        }
        Ok(out)
    }
}

/// One EXPOSE word: the `port/proto` entries it exposes, the protocol as
/// written, and whether it named an IP address or a host port.
struct PortSpec {
    ports: Vec<String>,
    proto: String,
    mapped: bool,
}

/// `80`, `80/udp`, `8000-8002/tcp`, `127.0.0.1:8080:80` → `80/tcp`, …
/// (ranges expanded), as BuildKit's `parsePort`.
fn parse_port(spec: &str) -> Result<PortSpec, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [.., h, c] => (&spec[..spec.len() - h.len() - c.len() - 2], *h, *c),
        [] => ("", "", ""),
    };
    let (ports, proto) = match container.split_once('/') {
        Some((p, proto)) => (p, proto),
        None => (container, "tcp"),
    };
    let lower = proto.to_ascii_lowercase();
    if !matches!(lower.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let bare_ip = ip
        .strip_prefix('[')
        .and_then(|v6| v6.strip_suffix(']'))
        .unwrap_or(ip);
    if !ip.is_empty() && bare_ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (lo, hi) = port_range(ports)
        .ok_or_else(|| format!("invalid containerPort: {ports}"))?
        .map_err(|()| format!("invalid range specified for containerPort: {ports}"))?;
    if !host.is_empty() {
        let (hlo, hhi) = port_range(host)
            .and_then(Result::ok)
            .ok_or_else(|| format!("invalid hostPort: {host}"))?;
        if hi - lo != hhi - hlo && hi != lo {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {ports} and {host}"
            ));
        }
    }
    Ok(PortSpec {
        ports: (lo..=hi).map(|p| format!("{p}/{lower}")).collect(),
        proto: proto.to_string(),
        mapped: !ip.is_empty() || !host.is_empty(),
    })
}

/// `80` or `8000-8002`: `None` when a number is not a port, `Err` when the
/// range runs backwards.
fn port_range(ports: &str) -> Option<Result<(u16, u16), ()>> {
    let port = |p: &str| p.parse::<u16>().ok();
    match ports.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (port(a)?, port(b)?);
            Some(if hi < lo { Err(()) } else { Ok((lo, hi)) })
        }
        None => port(ports).map(|p| Ok((p, p))),
    }
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

    fn ports(spec: &str) -> Vec<String> {
        parse_port(spec).unwrap().ports
    }

    #[test]
    fn ports_follow_buildkit() {
        assert_eq!(ports("80"), ["80/tcp"]);
        assert_eq!(ports("53/UDP"), ["53/udp"]);
        assert_eq!(ports("8000-8002"), ["8000/tcp", "8001/tcp", "8002/tcp"]);
        assert!(parse_port("70000").is_err());
        assert!(parse_port("80/icmp").is_err());
        assert!(parse_port("90-80").is_err());
        // Host ports and addresses are accepted, only the container port
        // is exposed, and the word is marked for ExposeInvalidFormat.
        assert_eq!(ports("127.0.0.1:8080:80"), ["80/tcp"]);
        assert_eq!(ports("[::1]:8080:80/udp"), ["80/udp"]);
        assert_eq!(ports("5000-5001:6000-6001"), ["6000/tcp", "6001/tcp"]);
        assert!(parse_port("8080:80").unwrap().mapped);
        assert!(!parse_port("80/TCP").unwrap().mapped);
        assert_eq!(parse_port("80/TCP").unwrap().proto, "TCP");
        assert!(parse_port("nope:8080:80").is_err());
        assert!(parse_port("x:80").is_err());
        assert!(parse_port("5000-5002:80-81").is_err());
    }
}
