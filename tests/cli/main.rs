//! Integration tests of the `memtree` binary on temporary trees (one test binary).

mod env;

mod git;

mod agents;
mod commands;
mod curate;
mod dense;
mod index;
mod intake;
mod layers;
mod llm;
mod mcp;
mod mcp_protocol;
mod model;
mod onboarding;
mod query;
mod reliability;
mod robustness;
mod semantic;
mod setup;
mod team;
mod trust;

#[test]
fn no_forgotten_test_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(module) = name.strip_suffix(".rs")
            && module != "main"
        {
            assert!(
                main.contains(&format!("mod {module};")),
                "tests/cli/{name} is not declared in main.rs"
            );
        }
    }
}
