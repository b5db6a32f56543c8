//! End to end: `bnx data fetch` against a local HTTP server started here, serving the bundled
//! MNIST files (which must pass: the pins are on the decompressed bytes) and every way a download
//! goes wrong. Each failure is one sentence, and the cache keeps nothing of it.
//!
//! The server is a few lines over `std::net` rather than a crate: the failures need a server that
//! lies about lengths and hangs up mid-body, which a well-behaved server crate will not do.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::common::{bnx, clean_error};
use assert_cmd::Command;
use predicates::prelude::*;

/// What the server does for a path.
#[derive(Clone)]
enum Reply {
    File(Vec<u8>),
    Status(u16),
    /// Claims the whole length, sends this many bytes, hangs up.
    CutAfter(Vec<u8>, usize),
}

/// Serves `routes` on 127.0.0.1 until the test ends; returns the base URL.
fn serve(routes: HashMap<String, Reply>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // The rest of the request head.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let reply = routes.get(&path).cloned().unwrap_or(Reply::Status(404));
            let _ = match reply {
                Reply::File(body) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(&body)),
                Reply::Status(code) => stream.write_all(
                    format!(
                        "HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                Reply::CutAfter(body, sent) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(&body[..sent])),
            };
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    base
}

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

fn bundled(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/mnist")
            .join(name),
    )
    .unwrap()
}

/// The bundled files, with `change` applied to the one named `changed`.
fn routes(changed: &str, change: impl Fn(Vec<u8>) -> Reply) -> HashMap<String, Reply> {
    FILES
        .iter()
        .map(|name| {
            let bytes = bundled(name);
            let reply = if *name == changed {
                change(bytes)
            } else {
                Reply::File(bytes)
            };
            (format!("/{name}"), reply)
        })
        .collect()
}

fn fetch(base: &str, cache: &Path) -> Command {
    let mut command = bnx();
    command
        .args(["data", "fetch", "mnist", "-q", "--cache-dir"])
        .arg(cache)
        .env("BNX_DATA_MIRROR", base);
    command
}

/// Every file left in the cache folder, temporary ones included.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_in(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn bundled_files_from_a_local_mirror_pass_and_are_listed_as_verified() {
    let base = serve(routes("", Reply::File));
    let cache = tempfile::TempDir::new().unwrap();
    fetch(&base, cache.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("MNIST is in"));
    let dir = cache.path().join("data/mnist");
    for name in FILES {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            bundled(name),
            "{name}"
        );
    }
    assert_eq!(files_in(cache.path()).len(), 4, "no temporary files left");
    bnx()
        .args(["data", "list", "--cache-dir"])
        .arg(cache.path())
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"mnist\s+verified").unwrap())
        .stdout(predicate::str::is_match(r"kmnist\s+not fetched").unwrap());

    // The fetched folder trains like the bundled one.
    bnx()
        .args([
            "train",
            "--epochs",
            "1",
            "--limit-train",
            "64",
            "--limit-test",
            "32",
            "-q",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--out")
        .arg(cache.path().join("run"))
        .assert()
        .success();

    // A file changed after it was fetched is reported.
    let mut damaged = bundled(FILES[3]);
    let last = damaged.len() - 9;
    damaged[last] ^= 0xff;
    std::fs::write(dir.join(FILES[3]), damaged).unwrap();
    bnx()
        .args(["data", "list", "--cache-dir"])
        .arg(cache.path())
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"mnist\s+NOT verified").unwrap())
        .stdout(predicate::str::contains(FILES[3]));
}

#[test]
fn each_failed_download_is_one_sentence_and_leaves_nothing() {
    // Another valid gzip stream of other bytes: the content check refuses it.
    let other = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"not MNIST").unwrap();
        encoder.finish().unwrap()
    };
    let cases: Vec<(&str, HashMap<String, Reply>, &str)> = vec![
        (
            FILES[1],
            routes(FILES[1], |_| Reply::File(other.clone())),
            "its decompressed IDX bytes' SHA-256 is",
        ),
        (
            FILES[1],
            routes(FILES[1], |mut bytes| {
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x55;
                Reply::File(bytes)
            }),
            "the file was not kept",
        ),
        (
            FILES[0],
            routes(FILES[0], |bytes| Reply::CutAfter(bytes, 100_000)),
            "the download stopped after 100000 of 9719438 bytes",
        ),
        (
            FILES[2],
            routes(FILES[2], |_| Reply::Status(404)),
            "the server answered HTTP 404 (the address comes from BNX_DATA_MIRROR",
        ),
        (
            FILES[0],
            routes(FILES[0], |bytes| Reply::CutAfter(bytes, 0)),
            "the download stopped after 0 of",
        ),
    ];
    for (failing, routes, expected) in cases {
        let base = serve(routes);
        let cache = tempfile::TempDir::new().unwrap();
        fetch(&base, cache.path())
            .assert()
            .code(1)
            .stderr(clean_error())
            .stderr(predicate::str::contains(expected));
        // The files verified before the failure are kept whole (a second fetch skips them);
        // nothing of the failed one, not even a temporary file.
        let dir = cache.path().join("data/mnist");
        for path in files_in(cache.path()) {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            assert!(
                FILES.contains(&name.as_str()) && name != failing,
                "{expected}: {name} left"
            );
            assert_eq!(std::fs::read(&path).unwrap(), bundled(&name));
        }
        assert!(!dir.join(failing).exists(), "{expected}");
    }

    // No server at all.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let cache = tempfile::TempDir::new().unwrap();
    fetch(&base, cache.path())
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("cannot download"));

    // A mirror that is not a URL names the variable that holds it.
    fetch("not a url", cache.path())
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains(
            "BNX_DATA_MIRROR is 'not a url', which is not an http:// or https:// URL",
        ));

    // A cache folder that cannot be created (under a plain file).
    let base = serve(routes("", Reply::File));
    let blocker = cache.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    fetch(&base, &blocker.join("cache"))
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("cannot write"));
}

#[test]
fn a_dataset_not_on_this_machine_is_fetched_on_first_use_saying_so() {
    // KMNIST's pins are its real files': the bundled MNIST served in their place is refused,
    // after bnx said what it was doing.
    let files: HashMap<String, Reply> = FILES
        .iter()
        .map(|name| (format!("/{name}"), Reply::File(bundled(name))))
        .collect();
    let base = serve(files);
    let cache = tempfile::TempDir::new().unwrap();
    bnx()
        .args(["train", "--dataset", "kmnist", "--epochs", "1"])
        .env("BNX_DATA_MIRROR", &base)
        .env("XDG_CACHE_HOME", cache.path())
        .arg("--out")
        .arg(cache.path().join("run"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "Kuzushiji-MNIST is not on this machine: fetching it into",
        ))
        .stderr(clean_error())
        .stderr(predicate::str::contains("the .gz file's SHA-256 is"));
    assert!(!cache.path().join("bnx/data/kmnist").exists());
}
