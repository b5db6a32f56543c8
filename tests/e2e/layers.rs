//! The architecture, checked: data flows one way through bnx's modules, a module imports only
//! from the modules below it (see the crate documentation in src/lib.rs), no source files import
//! each other directly or through a ring, and no source file is over 600 lines.

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

/// A source file's module path: `src/study/claims/mod.rs` → `study::claims`,
/// `src/study/runs.rs` → `study::runs`, `src/lib.rs` → `` (the crate root).
fn module_path(relative: &Path) -> String {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|c| c.to_str().unwrap().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without comments, string and char literals, and `#[cfg(test)]` items
/// (tests may reach anywhere), one entry per line, each with the inline module it sits in.
fn code_lines(text: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut skip_until: Option<usize> = None;
    let mut cfg_test = false;
    let mut pending: Option<String> = None;
    let is_use = |line: &str| {
        line.starts_with("use ")
            || line.starts_with("pub use ")
            || line.starts_with("pub(crate) use ")
    };
    for raw in text.lines() {
        let mut code = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '/' if chars.peek() == Some(&'/') => break,
                '"' => {
                    while let Some(s) = chars.next() {
                        match s {
                            '\\' => {
                                chars.next();
                            }
                            '"' => break,
                            _ => {}
                        }
                    }
                    code.push_str("\"\"");
                }
                '\'' => {
                    // A char literal ('{', '\n') or a lifetime ('a): skip the literal only.
                    let rest: String = chars.clone().take(3).collect();
                    if rest.starts_with('\\') {
                        for s in chars.by_ref() {
                            if s == '\'' {
                                break;
                            }
                        }
                    } else if rest.chars().nth(1) == Some('\'') {
                        chars.next();
                        chars.next();
                    } else {
                        code.push(c);
                    }
                }
                _ => code.push(c),
            }
        }
        let trimmed = code.trim_start();
        let opens_mod = (trimmed.starts_with("mod ") || trimmed.starts_with("pub mod "))
            && trimmed.trim_end().ends_with('{');
        if skip_until.is_none() {
            if opens_mod && cfg_test {
                skip_until = Some(depth);
            } else if opens_mod {
                let name = trimmed
                    .trim_start_matches("pub ")
                    .trim_start_matches("mod ")
                    .trim_end_matches('{')
                    .trim();
                inline.push((name.to_string(), depth));
            }
        }
        if trimmed.starts_with("#[cfg(test)]") {
            cfg_test = true;
        } else if !trimmed.is_empty() && !trimmed.starts_with("#[") {
            cfg_test = false;
        }
        if skip_until.is_none() {
            let names: Vec<String> = inline.iter().map(|(name, _)| name.clone()).collect();
            // A use statement over several lines is one line here.
            match pending.take() {
                Some(mut statement) => {
                    statement.push(' ');
                    statement.push_str(code.trim());
                    if code.contains(';') {
                        out.push((names, statement));
                    } else {
                        pending = Some(statement);
                    }
                }
                None if is_use(trimmed) && !code.contains(';') => pending = Some(code.clone()),
                None => out.push((names, code.clone())),
            }
        }
        depth += code.matches('{').count();
        depth -= code.matches('}').count().min(depth);
        if skip_until.is_some_and(|d| depth <= d) && code.contains('}') {
            skip_until = None;
        }
        while inline.last().is_some_and(|(_, d)| depth <= *d) {
            inline.pop();
        }
    }
    out
}

/// Every path a line of code names from `module`: `use` trees expanded, and inline paths that
/// start with `crate::`, `super::`, `self::` or a child module of `module`. Absolute, as
/// segments.
fn named_paths(module: &[String], children: &[String], code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0
            || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        if !starts_word || !(bytes[i].is_alphabetic() || bytes[i] == '_') {
            i += 1;
            continue;
        }
        let mut segments: Vec<String> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < bytes.len() && (bytes[j].is_alphanumeric() || bytes[j] == '_') {
                j += 1;
            }
            segments.push(bytes[start..j].iter().collect());
            if j + 2 < bytes.len()
                && bytes[j] == ':'
                && bytes[j + 1] == ':'
                && (bytes[j + 2].is_alphabetic() || bytes[j + 2] == '_')
            {
                j += 2;
            } else {
                break;
            }
        }
        // A use tree's braces: `a::{b, c::{d, e}}` names a::b, a::c::d and a::c::e.
        let mut tails: Vec<Vec<String>> = vec![Vec::new()];
        if j + 2 < bytes.len() && bytes[j] == ':' && bytes[j + 1] == ':' && bytes[j + 2] == '{' {
            let close = matching_brace(&bytes, j + 2);
            let inner: String = bytes[j + 3..close].iter().collect();
            tails = use_tree(&inner);
            j = close;
        }
        // `pub(crate)`, `pub(super)`: a visibility, not a path.
        let alone = segments.len() == 1 && tails.len() == 1 && tails[0].is_empty();
        let glob = bytes.get(j) == Some(&':');
        if alone && !glob {
            i = j.max(i + 1);
            continue;
        }
        for tail in tails {
            let mut full = segments.clone();
            full.extend(tail);
            if let Some(path) = absolute(module, children, &full) {
                found.push(path);
            }
        }
        i = j.max(i + 1);
    }
    found
}

/// The index of the brace that closes the one at `open` (the end when none does).
fn matching_brace(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    chars.len()
}

/// The paths inside a use tree's braces, relative to the tree's base.
fn use_tree(inner: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = inner.chars().collect();
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(chars[start..i].iter().collect::<String>());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(chars[start..].iter().collect());
    let mut paths = Vec::new();
    for item in items {
        let item = item.trim();
        let item = item.split(" as ").next().unwrap_or("").trim();
        if item.is_empty() {
            continue;
        }
        if let Some(open) = item.find("::{") {
            let base: Vec<String> = item[..open].split("::").map(String::from).collect();
            let nested = &item[open + 3..item.rfind('}').unwrap_or(item.len())];
            for tail in use_tree(nested) {
                let mut path = base.clone();
                path.extend(tail);
                paths.push(path);
            }
        } else {
            paths.push(
                item.split("::")
                    .filter(|s| *s != "self" && *s != "*")
                    .map(String::from)
                    .collect(),
            );
        }
    }
    paths
}

/// `segments` as seen from `module`, absolute; `None` for paths outside the crate.
fn absolute(module: &[String], children: &[String], segments: &[String]) -> Option<Vec<String>> {
    let mut base = module.to_vec();
    let mut rest = segments;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) if children.iter().any(|c| c == first) && rest.len() > 1 => {}
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Which source file each source file imports from, by module path.
fn import_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: Vec<(String, std::path::PathBuf)> = files
        .iter()
        .map(|f| (module_path(f.strip_prefix(&src).unwrap()), f.clone()))
        .filter(|(m, _)| !m.is_empty())
        .collect();
    let mut graph = std::collections::BTreeMap::new();
    for (module, file) in &modules {
        let own: Vec<String> = module.split("::").map(String::from).collect();
        let text = std::fs::read_to_string(file).unwrap();
        let mut imports = std::collections::BTreeSet::new();
        for (inline, code) in code_lines(&text) {
            let mut here = own.clone();
            here.extend(inline);
            // Child modules of `here` that are files (a bare `child::item` path names one).
            let prefix = format!("{}::", here.join("::"));
            let children: Vec<String> = modules
                .iter()
                .filter_map(|(m, _)| m.strip_prefix(&prefix))
                .filter(|rest| !rest.contains("::"))
                .map(String::from)
                .collect();
            for path in named_paths(&here, &children, &code) {
                // The longest prefix of the path that is a source file.
                let target = (1..=path.len())
                    .rev()
                    .map(|n| path[..n].join("::"))
                    .find(|m| modules.iter().any(|(known, _)| known == m));
                if let Some(target) = target
                    && target != *module
                {
                    imports.insert(target);
                }
            }
        }
        graph.insert(module.clone(), imports);
    }
    graph
}

/// A ring of imports through `start`, if there is one.
fn ring_through(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    start: &str,
) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                let mut ring = path.clone();
                ring.push(start.to_string());
                return Some(ring);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_source_files_import_each_other_directly_or_through_a_ring() {
    let graph = import_graph();
    let edges: usize = graph.values().map(|targets| targets.len()).sum();
    assert!(
        edges > 150,
        "only {edges} imports found: is the scan broken?"
    );
    // The scan sees what it must: a use tree, a super path, and a bare child-module path.
    assert!(graph["study::claims::batch"].contains("study::kind"));
    assert!(graph["study::measures::probes"].contains("study::measures::measurement"));
    assert!(graph["study"].contains("study::plan"));
    let mut rings: Vec<String> = Vec::new();
    for module in graph.keys() {
        if let Some(ring) = ring_through(&graph, module) {
            let text = ring.join(" → ");
            if !rings
                .iter()
                .any(|r| ring.iter().skip(1).all(|m| r.contains(m.as_str())))
            {
                rings.push(text);
            }
        }
    }
    assert!(rings.is_empty(), "import rings:\n{}", rings.join("\n"));
}

#[test]
fn the_ring_scan_finds_a_ring() {
    let graph = std::collections::BTreeMap::from([
        (
            "a".to_string(),
            std::collections::BTreeSet::from(["b".to_string()]),
        ),
        (
            "b".to_string(),
            std::collections::BTreeSet::from(["c".to_string()]),
        ),
        (
            "c".to_string(),
            std::collections::BTreeSet::from(["a".to_string()]),
        ),
        (
            "d".to_string(),
            std::collections::BTreeSet::from(["a".to_string()]),
        ),
    ]);
    assert_eq!(ring_through(&graph, "a").unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(ring_through(&graph, "d"), None);
    let code = code_lines(
        "use crate::study::{kind::Budget, lookup::{Runs, Measure}};\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\nmod inner {\n    use super::x::Y;\n}\n",
    );
    let module = vec!["study".to_string(), "claims".to_string()];
    let paths: Vec<Vec<String>> = code
        .iter()
        .flat_map(|(inline, line)| {
            let mut here = module.clone();
            here.extend(inline.iter().cloned());
            named_paths(&here, &[], line)
        })
        .collect();
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "study::kind::Budget",
            "study::lookup::Runs",
            "study::lookup::Measure",
            "study::claims::x::Y"
        ]
    );
}

/// The longest a function outside the tests may be: one screen.
const MAX_FUNCTION_LINES: usize = 80;

/// Every function of `text` outside `#[cfg(test)]` modules that is longer than `max` lines, with
/// its length.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<String> = code_lines(text).into_iter().map(|(_, code)| code).collect();
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let qualifiers = [
            "pub",
            "pub(crate)",
            "pub(super)",
            "const",
            "unsafe",
            "async",
        ];
        if !words[..at].iter().all(|w| qualifiers.contains(w)) {
            continue;
        }
        let name: String = words
            .get(at + 1)
            .map_or("", |w| w)
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0i64;
        let mut opened = false;
        for (end, code) in lines.iter().enumerate().skip(start) {
            if !opened && code.trim_end().ends_with(';') && !code.contains('{') {
                break; // a declaration without a body
            }
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            opened |= code.contains('{');
            if opened && depth <= 0 {
                let length = end - start + 1;
                if length > max {
                    long.push((name.clone(), length));
                }
                break;
            }
        }
    }
    long
}

#[test]
fn no_function_outside_the_tests_is_over_80_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for file in files {
        // Test-only modules in files of their own.
        if file.ends_with("tests.rs") || file.ends_with("testing.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (name, length) in long_functions(&text, MAX_FUNCTION_LINES) {
            long.push(format!("{}: {name} ({length} lines)", file.display()));
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_function_scan_measures_bodies_and_skips_tests() {
    let body = "    let x = 1;\n".repeat(5);
    let text = format!(
        "pub(crate) fn short() {{\n{body}}}\n\nfn longer(a: u8) -> u8 {{\n{body}{body}    a\n}}\n\ntrait T {{\n    fn declared(&self);\n}}\n\n#[cfg(test)]\nmod tests {{\n    fn long_test() {{\n{body}{body}{body}    }}\n}}\n"
    );
    assert_eq!(long_functions(&text, 7), [("longer".to_string(), 13)]);
    assert!(long_functions(&text, 13).is_empty());
}
