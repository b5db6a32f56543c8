//! The architecture, checked: data flows one way through bnx's modules, and a module imports
//! only from the modules below it (see the crate documentation in src/lib.rs).

use std::path::Path;

/// Bottom to top. Modules on one line do not import each other.
const LAYERS: &[&[&str]] = &[
    &["runtime", "data"],
    &["model"],
    &["config"],
    &["train"],
    &["report"],
    &["experiment"],
    &["study"],
    &["commands"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = top.trim_end_matches(".rs");
        let Some(own) = layer_of(module) else {
            continue; // lib.rs and main.rs tie the layers together
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for (start, _) in line.match_indices("crate::") {
                let used: String = line[start + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let Some(theirs) = layer_of(&used) else {
                    continue; // crate-root items: Named, Error
                };
                checked += 1;
                if used != module && theirs >= own {
                    violations.push(format!(
                        "{}:{}: {module} uses crate::{used}",
                        relative.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} imports found: is the scan broken?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn no_source_file_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join(", "));
}
