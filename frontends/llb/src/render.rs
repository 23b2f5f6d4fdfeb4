//! A readable dump of an LLB definition, for `--print=llb` and golden tests.

use crate::error::LlbError;
use crate::graph::digest_of;
use crate::reference::format_platform;
use bollard_buildkit_proto::pb;
use prost::Message;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Decodes serialized LLB and renders one block per op, in definition
/// order: `#N` (its position), the first 12 hex digits of its digest, the
/// kind, its inputs (as `#N:output`), then indented lines for the progress
/// name, platform, args/env/cwd/user/modes/mounts of an exec, and actions
/// of a file op.
pub fn render(bytes: &[u8]) -> Result<String, LlbError> {
    let def = pb::Definition::decode(bytes)?;
    let mut position: BTreeMap<String, usize> = BTreeMap::new();
    let mut ops = Vec::new();
    for (i, raw) in def.def.iter().enumerate() {
        let digest = digest_of(raw);
        position.insert(digest.clone(), i);
        ops.push((digest, pb::Op::decode(raw.as_slice())?));
    }
    let mut out = String::new();
    for (i, (digest, op)) in ops.iter().enumerate() {
        let short = digest.trim_start_matches("sha256:").get(..12).unwrap_or("");
        let inputs: Vec<String> = op
            .inputs
            .iter()
            .map(|input| match position.get(&input.digest) {
                Some(p) => format!("#{p}:{}", input.index),
                None => format!("?{}:{}", input.digest, input.index),
            })
            .collect();
        let kind = match &op.op {
            None => "output",
            Some(pb::op::Op::Source(_)) => "source",
            Some(pb::op::Op::Exec(_)) => "exec",
            Some(pb::op::Op::File(_)) => "file",
            Some(pb::op::Op::Merge(_)) => "merge",
            Some(pb::op::Op::Diff(_)) => "diff",
            Some(pb::op::Op::Build(_)) => "build",
        };
        let _ = writeln!(out, "#{i} {short} {kind} [{}]", inputs.join(", "));
        if let Some(md) = def.metadata.get(digest) {
            for (k, v) in &md.description {
                let _ = writeln!(out, "    {k}: {v}");
            }
            let caps: Vec<&str> = md.caps.keys().map(String::as_str).collect();
            if !caps.is_empty() {
                let _ = writeln!(out, "    caps: {}", caps.join(", "));
            }
        }
        if let Some(p) = &op.platform {
            let _ = writeln!(out, "    platform: {}", format_platform(p));
        }
        match &op.op {
            Some(pb::op::Op::Source(s)) => {
                let _ = writeln!(out, "    identifier: {}", s.identifier);
                for (k, v) in &s.attrs {
                    let _ = writeln!(out, "    attr {k}={v}");
                }
            }
            Some(pb::op::Op::Exec(e)) => render_exec(&mut out, e),
            Some(pb::op::Op::File(f)) => {
                for a in &f.actions {
                    render_action(&mut out, a);
                }
            }
            Some(pb::op::Op::Merge(m)) => {
                let ins: Vec<String> = m.inputs.iter().map(|i| i.input.to_string()).collect();
                let _ = writeln!(out, "    merge inputs {}", ins.join(","));
            }
            _ => {}
        }
    }
    Ok(out)
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn list(v: &[String]) -> String {
    serde_json::Value::from(v.to_vec()).to_string()
}

fn render_exec(out: &mut String, e: &pb::ExecOp) {
    if let Some(m) = &e.meta {
        let _ = writeln!(out, "    args: {}", list(&m.args));
        for env in &m.env {
            let _ = writeln!(out, "    env: {}", q(env));
        }
        let _ = writeln!(out, "    cwd: {}  user: {}", q(&m.cwd), q(&m.user));
        if let Some(p) = &m.proxy_env {
            let _ = writeln!(
                out,
                "    proxy: http={} https={} ftp={} no={} all={}",
                q(&p.http_proxy),
                q(&p.https_proxy),
                q(&p.ftp_proxy),
                q(&p.no_proxy),
                q(&p.all_proxy)
            );
        }
        if m.remove_mount_stubs_recursive {
            let _ = writeln!(out, "    remove-mount-stubs-recursive");
        }
    }
    let net = pb::NetMode::try_from(e.network).map_or("?", |n| n.as_str_name());
    let sec = pb::SecurityMode::try_from(e.security).map_or("?", |s| s.as_str_name());
    let _ = writeln!(out, "    network: {net}  security: {sec}");
    for m in &e.mounts {
        let ty = pb::MountType::try_from(m.mount_type).map_or("?", |t| t.as_str_name());
        let mut line = format!(
            "    mount {ty} {} input={} output={}",
            m.dest, m.input, m.output
        );
        if !m.selector.is_empty() {
            let _ = write!(line, " selector={}", m.selector);
        }
        if m.readonly {
            line.push_str(" readonly");
        }
        if let Some(c) = &m.cache_opt {
            let sharing = pb::CacheSharingOpt::try_from(c.sharing).map_or("?", |s| s.as_str_name());
            let _ = write!(line, " cache-id={} sharing={sharing}", q(&c.id));
        }
        if let Some(t) = &m.tmpfs_opt {
            let _ = write!(line, " size={}", t.size);
        }
        if let Some(s) = &m.secret_opt {
            let _ = write!(
                line,
                " secret-id={} uid={} gid={} mode={:o} optional={}",
                q(&s.id),
                s.uid,
                s.gid,
                s.mode,
                s.optional
            );
        }
        if let Some(s) = &m.ssh_opt {
            let _ = write!(
                line,
                " ssh-id={} uid={} gid={} mode={:o} optional={}",
                q(&s.id),
                s.uid,
                s.gid,
                s.mode,
                s.optional
            );
        }
        let _ = writeln!(out, "{line}");
    }
    for s in &e.secretenv {
        let _ = writeln!(
            out,
            "    secretenv {} id={} optional={}",
            s.name,
            q(&s.id),
            s.optional
        );
    }
}

fn owner(o: &Option<pb::ChownOpt>) -> String {
    let Some(o) = o else { return String::new() };
    let one = |u: &Option<pb::UserOpt>| match u.as_ref().and_then(|u| u.user.as_ref()) {
        Some(pb::user_opt::User::ById(id)) => id.to_string(),
        Some(pb::user_opt::User::ByName(n)) => format!("{}@{}", n.name, n.input),
        None => String::new(),
    };
    format!(" owner={}:{}", one(&o.user), one(&o.group))
}

fn mode(m: i32) -> String {
    if m < 0 {
        "-1".to_string()
    } else {
        format!("{m:o}")
    }
}

fn render_action(out: &mut String, a: &pb::FileAction) {
    let io = format!(
        "input={} secondary={} output={}",
        a.input, a.secondary_input, a.output
    );
    match &a.action {
        Some(pb::file_action::Action::Copy(c)) => {
            let mut flags = Vec::new();
            for (on, name) in [
                (c.follow_symlink, "follow-symlink"),
                (c.dir_copy_contents, "dir-contents"),
                (c.attempt_unpack_docker_compatibility, "unpack"),
                (c.create_dest_path, "create-dest"),
                (c.allow_wildcard, "wildcard"),
                (c.allow_empty_wildcard, "empty-wildcard"),
                (c.always_replace_existing_dest_paths, "replace"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            let mut line = format!(
                "    copy {} -> {} {io} mode={} [{}]",
                q(&c.src),
                q(&c.dest),
                mode(c.mode),
                flags.join(" ")
            );
            if !c.mode_str.is_empty() {
                let _ = write!(line, " mode-str={}", c.mode_str);
            }
            line.push_str(&owner(&c.owner));
            if !c.include_patterns.is_empty() {
                let _ = write!(line, " include={}", list(&c.include_patterns));
            }
            if !c.exclude_patterns.is_empty() {
                let _ = write!(line, " exclude={}", list(&c.exclude_patterns));
            }
            let _ = write!(line, " timestamp={}", c.timestamp);
            let _ = writeln!(out, "{line}");
        }
        Some(pb::file_action::Action::Mkdir(m)) => {
            let _ = writeln!(
                out,
                "    mkdir {} {io} mode={} parents={}{} timestamp={}",
                q(&m.path),
                mode(m.mode),
                m.make_parents,
                owner(&m.owner),
                m.timestamp
            );
        }
        Some(pb::file_action::Action::Mkfile(m)) => {
            let _ = writeln!(
                out,
                "    mkfile {} {io} mode={}{} timestamp={} data={}",
                q(&m.path),
                mode(m.mode),
                owner(&m.owner),
                m.timestamp,
                q(&String::from_utf8_lossy(&m.data))
            );
        }
        Some(pb::file_action::Action::Rm(r)) => {
            let _ = writeln!(out, "    rm {} {io}", q(&r.path));
        }
        Some(pb::file_action::Action::Symlink(s)) => {
            let _ = writeln!(
                out,
                "    symlink {} -> {} {io}",
                q(&s.newpath),
                q(&s.oldpath)
            );
        }
        None => {
            let _ = writeln!(out, "    (empty action) {io}");
        }
    }
}
