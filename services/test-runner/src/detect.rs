//! Which test framework a project uses, from the files at its root.

use std::path::{Path, PathBuf};

use crate::Error;

/// Deep enough for `tests/unit/api/test_x.py`, shallow enough that a huge
/// tests/ folder of fixtures is not walked whole.
const TESTS_DIR_DEPTH: usize = 4;

/// Checks that `raw` names an existing directory, absolute so that it does not
/// depend on the test-runner's own working directory.
pub(crate) fn project_dir(raw: &str) -> Result<PathBuf, Error> {
    if raw.is_empty() {
        return Err(Error::EmptyProjectPath);
    }
    let path = PathBuf::from(raw);
    if !path.is_absolute() {
        return Err(Error::RelativeProjectPath(path));
    }
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(path),
        Ok(_) => Err(Error::NotADirectory(path)),
        Err(_) => Err(Error::ProjectMissing(path)),
    }
}

/// The test frameworks the test-runner knows how to run and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framework {
    /// `npm test`, read through Jest's JSON report when the project uses Jest.
    Jest,
    Pytest,
    Cargo,
    Go,
}

impl Framework {
    /// The name reports and spans give it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Framework::Jest => "jest",
            Framework::Pytest => "pytest",
            Framework::Cargo => "cargo",
            Framework::Go => "go",
        }
    }
}

/// Root manifests win over pytest markers: a Rust or Go repository often has a
/// `tests/` folder, and helper .py scripts in it do not make it a pytest project.
pub(crate) fn detect(dir: &Path) -> Result<Framework, Error> {
    if dir.join("package.json").is_file() {
        return Ok(Framework::Jest);
    }
    if dir.join("Cargo.toml").is_file() {
        return Ok(Framework::Cargo);
    }
    if dir.join("go.mod").is_file() {
        return Ok(Framework::Go);
    }
    let marker = ["pytest.ini", "pyproject.toml", "setup.py", "setup.cfg"].iter().any(|name| dir.join(name).is_file());
    if marker || contains_python(&dir.join("tests"), TESTS_DIR_DEPTH) {
        return Ok(Framework::Pytest);
    }
    Err(Error::NoFramework(dir.to_path_buf()))
}

fn contains_python(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_file() && path.extension().is_some_and(|ext| ext == "py") {
            return true;
        }
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if kind.is_dir() && !hidden {
            subdirs.push(path);
        }
    }
    depth > 1 && subdirs.iter().any(|sub| contains_python(sub, depth - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    #[test]
    fn a_rust_repo_with_a_tests_folder_is_cargo_not_pytest() {
        let dir = project(&["Cargo.toml", "src/lib.rs", "tests/it.rs", "tests/helper.py"]);
        assert_eq!(detect(dir.path()).unwrap(), Framework::Cargo);
    }

    #[test]
    fn a_go_repo_with_a_tests_folder_is_go_not_pytest() {
        let dir = project(&["go.mod", "main.go", "tests/gen_fixtures.py"]);
        assert_eq!(detect(dir.path()).unwrap(), Framework::Go);
    }

    #[test]
    fn pyproject_means_pytest() {
        let dir = project(&["pyproject.toml", "pkg/__init__.py"]);
        assert_eq!(detect(dir.path()).unwrap(), Framework::Pytest);
    }

    #[test]
    fn a_nested_tests_folder_with_python_means_pytest() {
        let dir = project(&["tests/unit/test_x.py"]);
        assert_eq!(detect(dir.path()).unwrap(), Framework::Pytest);
    }

    #[test]
    fn a_tests_folder_without_python_is_not_pytest() {
        let dir = project(&["tests/data.json"]);
        assert!(matches!(detect(dir.path()), Err(Error::NoFramework(_))));
    }

    #[test]
    fn package_json_means_jest_or_npm_even_beside_python() {
        let dir = project(&["package.json", "setup.py"]);
        assert_eq!(detect(dir.path()).unwrap(), Framework::Jest);
    }

    #[test]
    fn nothing_found_lists_what_was_looked_for_and_how_to_choose() {
        let dir = project(&["README.md"]);
        let message = detect(dir.path()).unwrap_err().to_string();
        for looked_for in [
            "package.json",
            "Cargo.toml",
            "go.mod",
            "pytest.ini",
            "pyproject.toml",
            "setup.py",
            "setup.cfg",
            "tests/ folder containing .py files",
        ] {
            assert!(message.contains(looked_for), "{looked_for:?} missing from {message:?}");
        }
    }

    #[test]
    fn the_project_path_must_be_an_absolute_existing_directory() {
        let dir = project(&["file.txt"]);
        let file = dir.path().join("file.txt");
        assert!(matches!(project_dir(""), Err(Error::EmptyProjectPath)));
        assert!(matches!(project_dir("rel/path"), Err(Error::RelativeProjectPath(_))));
        assert!(matches!(project_dir("/no/such/dir/x"), Err(Error::ProjectMissing(_))));
        assert!(matches!(project_dir(file.to_str().unwrap()), Err(Error::NotADirectory(_))));
        assert_eq!(project_dir(dir.path().to_str().unwrap()).unwrap(), dir.path());
    }
}
