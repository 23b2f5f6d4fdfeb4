//! The built-in scenarios: a project and the edits made between builds.

use super::base::BASE;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The base the Django example uses when `examples/quickstart.sh` made it.
pub const PYTHON_BASE: &str = "python-base:bookworm";

/// A change to the project before a build.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Nothing: the first build, or a no-op rebuild.
    Nothing,
    /// Write a file (new or existing) with this content.
    Write(&'static str, String),
    /// Append a line to a file.
    Append(&'static str, &'static str),
    /// Remove a file.
    Remove(&'static str),
    /// Set every file's and directory's modification time to now.
    TouchAll,
    /// Build with this `--build-arg` from now on.
    BuildArg(&'static str, &'static str),
}

/// One build of a scenario and the edit before it.
#[derive(Debug, Clone)]
pub struct Step {
    /// How the table names it.
    pub label: &'static str,
    /// What changes first.
    pub edit: Edit,
}

/// A project and its sequence of edits.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line about it.
    pub about: String,
    /// Files of the project (relative path → content), Dockerfile included.
    pub files: BTreeMap<&'static str, String>,
    /// A generated tree to copy in first (the large context).
    pub tree_files: Option<u32>,
    /// The builds.
    pub steps: Vec<Step>,
    /// Extra `strata build` arguments (the Django example's CA secret);
    /// a scenario with any is run by strata alone.
    pub strata_only: Vec<String>,
}

fn step(label: &'static str, edit: Edit) -> Step {
    Step { label, edit }
}

/// Every scenario's name, in the order `all` runs them.
pub const NAMES: [&str; 4] = ["django", "django-python", "large-context", "multi-stage"];

/// The scenario called `name`; `large_files` sizes the large context.
pub fn get(name: &str, large_files: u32) -> Result<Scenario> {
    match name {
        "django" => Ok(django()),
        "django-python" => django_python(),
        "large-context" => Ok(large_context(large_files)),
        "multi-stage" => Ok(multi_stage()),
        other => anyhow::bail!(
            "unknown scenario {other:?}; choose one of {} or all",
            NAMES.join(", ")
        ),
    }
}

const VIEWS: &str = "from django.http import HttpResponse\n\n\ndef index(request):\n    return HttpResponse(\"Hello from strata\")\n";

fn django_files(dockerfile: String) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("Dockerfile", dockerfile),
        (".dockerignore", "*.pyc\n__pycache__\n".into()),
        (
            "requirements.txt",
            "Django>=4.2,<5.0\npsycopg2-binary>=2.9\n".into(),
        ),
        (
            "manage.py",
            "import sys\nprint('manage', sys.argv)\n".into(),
        ),
        ("mysite/__init__.py", String::new()),
        (
            "mysite/settings.py",
            "DEBUG = False\nALLOWED_HOSTS = ['*']\n".into(),
        ),
        (
            "mysite/urls.py",
            "from . import views\nurlpatterns = [views.index]\n".into(),
        ),
        ("mysite/views.py", VIEWS.into()),
    ])
}

fn django_steps() -> Vec<Step> {
    vec![
        step("cold", Edit::Nothing),
        step("no-op", Edit::Nothing),
        step(
            "edit a view",
            Edit::Write("mysite/views.py", VIEWS.replace("Hello", "Hello again")),
        ),
        step("add a dependency", Edit::Append("requirements.txt", "six")),
        step("touch every file", Edit::TouchAll),
        step(
            "revert the view",
            Edit::Write("mysite/views.py", VIEWS.into()),
        ),
        step(
            "add a file",
            Edit::Write("mysite/models.py", "# models\n".into()),
        ),
        step("remove a file", Edit::Remove("mysite/models.py")),
    ]
}

fn django() -> Scenario {
    let dockerfile = format!(
        "FROM {BASE}\n\
         ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n\
         WORKDIR /code\n\
         COPY requirements.txt /code/\n\
         RUN pip install --no-cache-dir -r requirements.txt\n\
         COPY . /code/\n\
         ARG DJANGO_DEBUG=0\n\
         RUN echo \"DEBUG=$DJANGO_DEBUG\" > /code/.env\n\
         EXPOSE 8000\n\
         CMD [\"python3\", \"manage.py\", \"runserver\", \"0.0.0.0:8000\"]\n"
    );
    let mut steps = django_steps();
    steps.push(step(
        "switch a build arg",
        Edit::BuildArg("DJANGO_DEBUG", "1"),
    ));
    Scenario {
        name: "django",
        about: "the Django-like example on a busybox base with a fake pip (no network)".into(),
        files: django_files(dockerfile),
        tree_files: None,
        steps,
        strata_only: Vec::new(),
    }
}

fn django_python() -> Result<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/django");
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile"))
        .with_context(|| format!("reading {}/Dockerfile", dir.display()))?;
    let mut files = django_files(dockerfile);
    files.insert("requirements.txt", "Django>=4.2,<5.0\n".into());
    Ok(Scenario {
        name: "django-python",
        about: format!(
            "examples/django on {PYTHON_BASE} (made by examples/quickstart.sh), pip from PyPI"
        ),
        files,
        tree_files: None,
        steps: django_steps(),
        strata_only: vec![
            "--secret".into(),
            "id=cacert,src=/etc/ssl/certs/ca-certificates.crt".into(),
        ],
    })
}

fn large_context(files: u32) -> Scenario {
    let dockerfile = format!("FROM {BASE}\nWORKDIR /app\nCOPY . .\n");
    Scenario {
        name: "large-context",
        about: format!("COPY . . of a generated context of {files} files (about 11.5 KB each)"),
        files: BTreeMap::from([("Dockerfile", dockerfile)]),
        tree_files: Some(files),
        steps: vec![
            step("cold", Edit::Nothing),
            step("no-op", Edit::Nothing),
            step(
                "one file changed",
                Edit::Write(strata_benches::tree::EDIT_FILE, "DEBUG = True\n".into()),
            ),
            step(
                "one file added",
                Edit::Write("added.txt", "new file\n".into()),
            ),
            step("one file removed", Edit::Remove("README.md")),
        ],
        strata_only: Vec::new(),
    }
}

fn multi_stage() -> Scenario {
    let dockerfile = format!(
        "FROM {BASE} AS builder\n\
         WORKDIR /src\n\
         COPY src/ ./\n\
         RUN mkdir -p /out && cat main.c util.c > /out/app && sha256sum /out/app\n\
         FROM {BASE}\n\
         COPY --from=builder /out/app /usr/local/bin/app\n\
         COPY config/ /etc/app/\n\
         CMD [\"cat\", \"/etc/app/app.conf\"]\n"
    );
    Scenario {
        name: "multi-stage",
        about: "a builder stage and a slim runtime stage; only the runtime's input changes".into(),
        files: BTreeMap::from([
            ("Dockerfile", dockerfile),
            ("src/main.c", "int main(void) { return run(); }\n".into()),
            ("src/util.c", "int run(void) { return 0; }\n".into()),
            ("config/app.conf", "port = 8080\n".into()),
        ]),
        tree_files: None,
        steps: vec![
            step("cold", Edit::Nothing),
            step("no-op", Edit::Nothing),
            step(
                "edit runtime config",
                Edit::Write("config/app.conf", "port = 9090\n".into()),
            ),
            step(
                "edit builder source",
                Edit::Write("src/util.c", "int run(void) { return 1; }\n".into()),
            ),
        ],
        strata_only: Vec::new(),
    }
}

/// Writes the project's files under `dir` (and copies the generated tree
/// from `trees` first, when the scenario has one).
pub fn write_project(scenario: &Scenario, dir: &Path, trees: &Path) -> Result<()> {
    if let Some(files) = scenario.tree_files {
        let spec = strata_benches::tree::TreeSpec::scaled(files);
        let tree = strata_benches::tree::ensure(trees, &spec)
            .with_context(|| format!("generating a {files}-file tree in {}", trees.display()))?;
        // cp -a keeps the tree's fixed mtimes.
        super::run_ok(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(&tree.root)
                .arg(dir),
        )?;
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for (rel, content) in &scenario.files {
        write(&dir.join(rel), content)?;
    }
    Ok(())
}

fn write(path: &Path, content: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

/// Applies an edit to the project in `dir`, updating the build args.
pub fn apply(edit: &Edit, dir: &Path, args: &mut BTreeMap<String, String>) -> Result<()> {
    match edit {
        Edit::Nothing => Ok(()),
        Edit::Write(rel, content) => write(&dir.join(rel), content),
        Edit::Append(rel, line) => {
            let path = dir.join(rel);
            let mut text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            text.push_str(line);
            text.push('\n');
            write(&path, &text)
        }
        Edit::Remove(rel) => {
            let path = dir.join(rel);
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))
        }
        Edit::TouchAll => {
            super::run_ok(
                std::process::Command::new("find")
                    .arg(dir)
                    .args(["-exec", "touch", "-h", "{}", "+"]),
            )?;
            Ok(())
        }
        Edit::BuildArg(k, v) => {
            args.insert(k.to_string(), v.to_string());
            Ok(())
        }
    }
}

/// Where generated trees are kept between runs (they take a while to make).
pub fn trees_dir(work: Option<&Path>) -> PathBuf {
    match work {
        Some(w) => w.join("trees"),
        None => PathBuf::from("/var/tmp/strata-bench-trees"),
    }
}
