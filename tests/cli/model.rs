//! `memtree model pull` (issue 22, part 3): the dense model's files fetched from a real HTTP
//! server on 127.0.0.1 or a folder, every file checked against the SHA-256 pinned in memtree; a
//! corrupted copy is refused and leaves nothing behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::env::TestEnv;

const FILES: [&str; 3] = ["config.json", "vocab.txt", "model.safetensors"];

/// Serves `files` (URL path → bytes) on 127.0.0.1; 404 for anything else. Returns the base URL
/// and the number of requests so far.
fn file_server(files: HashMap<String, Vec<u8>>) -> (String, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            seen.fetch_add(1, Ordering::SeqCst);
            let response = match files.get(request.url()) {
                Some(body) => tiny_http::Response::from_data(body.clone()),
                None => tiny_http::Response::from_data(b"not here".to_vec()).with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });
    (format!("http://127.0.0.1:{port}"), count)
}

/// The real model folder `.ci/run` provides, if any.
fn real_model() -> Option<PathBuf> {
    std::env::var_os("MEMTREE_DENSE_MODEL").map(PathBuf::from)
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn model_pull_fetches_over_http_checks_every_sum_and_refuses_a_corrupted_copy() {
    let Some(model) = real_model() else {
        eprintln!("SKIPPED: MEMTREE_DENSE_MODEL is not set (see .ci/run)");
        return;
    };
    let mut files = HashMap::new();
    for name in FILES {
        files.insert(format!("/good/{name}"), read(&model, name));
        files.insert(format!("/bad/{name}"), read(&model, name));
    }
    // One byte of the weights changed: the sum no longer matches.
    let bad = files.get_mut("/bad/model.safetensors").unwrap();
    let at = bad.len() / 2;
    bad[at] ^= 0x01;
    let (base, requests) = file_server(files);
    let env = TestEnv::bare();

    // A corrupted copy: refused, naming the file, the source and both sums; nothing written.
    let dest = env.root().join(".cache/memtree/models/all-minilm-l6-v2");
    let (_, err) = env.fails(&["model", "pull", "--from", &format!("{base}/bad")], 1);
    assert!(
        err.contains(&format!("model.safetensors from {base}/bad has SHA-256 "))
            && err.contains(
                "expected 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db: \
                 refused, nothing was changed"
            ),
        "{err}"
    );
    let models = env.root().join(".cache/memtree/models");
    assert_eq!(
        std::fs::read_dir(&models).unwrap().count(),
        0,
        "no folder and no .part folder is left"
    );

    // The good copy: fetched into the user's cache, byte for byte.
    let v = env.json(&["model", "pull", "--from", &format!("{base}/good")]);
    assert_eq!(v["schema"], "memtree.model_pull/v1");
    assert_eq!(v["licence"], "Apache-2.0");
    assert_eq!(v["already_present"], false);
    assert_eq!(v["folder"], dest.display().to_string());
    for name in FILES {
        assert_eq!(read(&dest, name), read(&model, name), "{name}");
    }
    let names: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, FILES);

    // Pulled again: nothing is fetched.
    let before = requests.load(Ordering::SeqCst);
    let v = env.json(&["model", "pull", "--from", &format!("{base}/good")]);
    assert_eq!(v["already_present"], true);
    assert_eq!(requests.load(Ordering::SeqCst), before);

    // A corrupted copy never replaces a good one.
    std::fs::write(dest.join("config.json"), b"{}").unwrap();
    env.fails(&["model", "pull", "--from", &format!("{base}/bad")], 1);
    assert_eq!(
        read(&dest, "config.json"),
        b"{}",
        "the folder is left as it was"
    );
    assert_eq!(
        read(&dest, "model.safetensors"),
        read(&model, "model.safetensors")
    );
}

#[test]
fn model_pull_refuses_what_it_cannot_verify() {
    let env = TestEnv::bare();
    // A folder whose files are not the model's: refused at the first file.
    let fake = env.root().join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    for name in FILES {
        std::fs::write(fake.join(name), b"not the model").unwrap();
    }
    let to = env.root().join("models/minilm");
    let (_, err) = env.fails(
        &[
            "model",
            "pull",
            "--from",
            fake.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains(&format!("config.json from {} has SHA-256 ", fake.display()))
            && err.contains("refused, nothing was changed"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(env.root().join("models"))
            .unwrap()
            .count(),
        0
    );

    // A server that has no such files: the URL and the status.
    let (base, _) = file_server(HashMap::new());
    let to = to.to_str().unwrap();
    let pull = ["model", "pull", "--from", base.as_str(), "--to", to];
    let (_, err) = env.fails(&pull, 1);
    assert!(
        err.contains(&format!("{base}/config.json: HTTP 404")),
        "{err}"
    );
    let (out, _) = env.fails(&[&pull[..], &["--json"]].concat(), 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "refused", "{v}");
}
