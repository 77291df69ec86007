//! Issue 21: the curate evaluation set (`examples/curate_eval`) holds its targets. The scorer
//! is the one `cargo run --example eval -- curate` runs; here its figures are asserted, so a
//! planner change that plans a harmful row fails the suite.

#[path = "../examples/eval/curate.rs"]
mod curate;

#[test]
fn the_curate_evaluation_set_meets_its_targets() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/curate_eval");
    let v = curate::run(dir);
    let all = &v["all"];
    assert_eq!(all["cases"], 93, "{v}");
    assert_eq!(all["harmful"], 0, "{v}");
    assert!(
        all["precision_update_supersede_noop"].as_f64().unwrap() >= 0.95,
        "{v}"
    );
    assert!(all["supersede_recall"].as_f64().unwrap() >= 0.6, "{v}");
    assert_eq!(all["dropped"], 0, "{v}");
    assert_eq!(
        all["plans_that_differ_by_input"],
        serde_json::json!([]),
        "{v}"
    );
}
