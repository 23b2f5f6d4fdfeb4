//! The per-stage state that config-only instructions change and later ops
//! read: the current vertex, environment, working directory, user, shell,
//! platform and the progress counter.

use crate::graph::OutputRef;
use bollard_buildkit_proto::pb;

/// `PATH` that BuildKit puts in a stage's environment when its image sets none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where a stage stands after some of its steps.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    /// The current root filesystem; `None` is scratch.
    pub root: Option<OutputRef>,
    /// `ENV` in effect, in first-set order (later sets replace in place).
    pub env: Vec<(String, String)>,
    /// Absolute working directory.
    pub cwd: String,
    /// `USER` in effect (empty: the image's default, root).
    pub user: String,
    /// `SHELL` in effect (empty: `/bin/sh -c`).
    pub shell: Vec<String>,
    /// Platform of every op of the stage.
    pub platform: pb::Platform,
    /// `stage-N` or the stage name; empty in a single-stage build.
    pub label: String,
    /// Vertices named so far (the `i` of `[i/n]`).
    pub index: usize,
    /// The `n` of `[i/n]`: `FROM image` plus every RUN, COPY, ADD, WORKDIR.
    pub total: usize,
}

impl StageState {
    /// A fresh stage on `root`, with the default environment.
    pub(crate) fn new(root: Option<OutputRef>, platform: pb::Platform) -> Self {
        StageState {
            root,
            env: vec![("PATH".to_string(), DEFAULT_PATH.to_string())],
            cwd: "/".to_string(),
            user: String::new(),
            shell: Vec::new(),
            platform,
            label: String::new(),
            index: 0,
            total: 0,
        }
    }

    /// Sets an environment variable, replacing an existing one in place.
    pub(crate) fn set_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.env.push((key.to_string(), value.to_string())),
        }
    }

    /// Wraps a shell-form command with the stage's shell.
    pub(crate) fn shell_wrap(&self, command: &str) -> Vec<String> {
        let mut args = if self.shell.is_empty() {
            vec!["/bin/sh".to_string(), "-c".to_string()]
        } else {
            self.shell.clone()
        };
        args.push(command.to_string());
        args
    }

    /// The progress name of the next vertex: `[label i/n] TEXT`, counting it.
    pub(crate) fn progress_name(&mut self, text: &str) -> String {
        self.index += 1;
        self.format_name(self.index, text)
    }

    /// The progress name with the current index, without counting a vertex
    /// (the merge of a `COPY --link` shares its copy's number).
    pub(crate) fn same_progress_name(&self, text: &str) -> String {
        self.format_name(self.index, text)
    }

    fn format_name(&self, index: usize, text: &str) -> String {
        let text = uppercase_first_word(text);
        if self.total == 0 {
            return text;
        }
        let width = self.total.to_string().len();
        let label = if self.label.is_empty() {
            String::new()
        } else {
            format!("{} ", self.label)
        };
        format!("[{label}{index:>width$}/{}] {text}", self.total)
    }
}

fn uppercase_first_word(text: &str) -> String {
    match text.split_once(' ') {
        Some((first, rest)) => format!("{} {rest}", first.to_uppercase()),
        None => text.to_uppercase(),
    }
}

/// Parses `user[:group]` into a copy/mkdir owner: numbers become ids, other
/// words names resolved by BuildKit against the filesystem at input `base`.
pub(crate) fn chown_opt(spec: &str, base: i64) -> Option<pb::ChownOpt> {
    if spec.is_empty() {
        return None;
    }
    let user_opt = |word: &str| -> Option<pb::UserOpt> {
        if word.is_empty() {
            return None;
        }
        let user = match word.parse::<u32>() {
            Ok(id) => pb::user_opt::User::ById(id),
            Err(_) => pb::user_opt::User::ByName(pb::NamedUserOpt {
                name: word.to_string(),
                input: base,
            }),
        };
        Some(pb::UserOpt { user: Some(user) })
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (user_opt(u), user_opt(g)),
        None => (user_opt(spec), None),
    };
    Some(pb::ChownOpt { user, group })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_names_pad_like_buildkit() {
        let mut st = StageState::new(None, pb::Platform::default());
        st.total = 12;
        st.label = "builder".into();
        assert_eq!(st.progress_name("run make"), "[builder  1/12] RUN make");
        st.label.clear();
        assert_eq!(st.progress_name("COPY . ."), "[ 2/12] COPY . .");
        st.total = 0;
        assert_eq!(st.progress_name("RUN x"), "RUN x");
    }

    #[test]
    fn env_replaces_in_place() {
        let mut st = StageState::new(None, pb::Platform::default());
        st.set_env("A", "1");
        st.set_env("PATH", "/bin");
        let keys: Vec<_> = st.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(keys, ["PATH=/bin", "A=1"]);
    }

    #[test]
    fn chown_splits_names_and_ids() {
        let opt = chown_opt("1000:staff", 0).unwrap();
        assert_eq!(opt.user.unwrap().user, Some(pb::user_opt::User::ById(1000)));
        assert!(matches!(
            opt.group.unwrap().user,
            Some(pb::user_opt::User::ByName(ref n)) if n.name == "staff"
        ));
        assert!(chown_opt("", 0).is_none());
    }
}
