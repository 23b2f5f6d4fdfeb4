//! Resource limits of a RUN (`--ulimit`): docker's names, the kernel's
//! resources, the runtime spec's names.

/// docker's `--ulimit` names and the kernel resources they set.
const RESOURCES: [(&str, i32); 16] = [
    ("as", libc::RLIMIT_AS as i32),
    ("core", libc::RLIMIT_CORE as i32),
    ("cpu", libc::RLIMIT_CPU as i32),
    ("data", libc::RLIMIT_DATA as i32),
    ("fsize", libc::RLIMIT_FSIZE as i32),
    ("locks", libc::RLIMIT_LOCKS as i32),
    ("memlock", libc::RLIMIT_MEMLOCK as i32),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as i32),
    ("nice", libc::RLIMIT_NICE as i32),
    ("nofile", libc::RLIMIT_NOFILE as i32),
    ("nproc", libc::RLIMIT_NPROC as i32),
    ("rss", libc::RLIMIT_RSS as i32),
    ("rtprio", libc::RLIMIT_RTPRIO as i32),
    ("rttime", libc::RLIMIT_RTTIME as i32),
    ("sigpending", libc::RLIMIT_SIGPENDING as i32),
    ("stack", libc::RLIMIT_STACK as i32),
];

/// One limit the command starts with: `setrlimit` before `exec`, or the
/// runtime spec's `process.rlimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    name: &'static str,
    resource: i32,
    /// The soft limit (`u64::MAX`: unlimited).
    pub soft: u64,
    /// The hard limit (`u64::MAX`: unlimited).
    pub hard: u64,
}

impl Rlimit {
    /// The limit of docker's resource `name` (`nofile`, `nproc`, …), or
    /// `None` for a name docker does not know.
    pub fn new(name: &str, soft: u64, hard: u64) -> Option<Rlimit> {
        let (name, resource) = RESOURCES.iter().find(|(n, _)| *n == name)?;
        Some(Rlimit {
            name,
            resource: *resource,
            soft,
            hard,
        })
    }

    /// docker's names of the resources, sorted.
    pub fn names() -> impl Iterator<Item = &'static str> {
        RESOURCES.iter().map(|(n, _)| *n)
    }

    /// docker's name (`nofile`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The runtime spec's name (`RLIMIT_NOFILE`).
    pub fn spec_name(&self) -> String {
        format!("RLIMIT_{}", self.name.to_ascii_uppercase())
    }

    /// The kernel's resource number.
    pub(crate) fn resource(&self) -> i32 {
        self.resource
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dockers_and_sorted() {
        let names: Vec<_> = Rlimit::names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(
            Rlimit::new("nofile", 1, 2).map(|r| r.spec_name()),
            Some("RLIMIT_NOFILE".into())
        );
        assert_eq!(Rlimit::new("files", 1, 2), None);
    }
}
