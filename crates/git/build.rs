//! Sets the `flotilla_skip_*` cfgs from `FLOTILLA_SKIP`, so that the tests that need a missing
//! tool are counted as skipped when asked (see `src/testing/tools.rs`).

#[allow(dead_code, reason = "the build script uses only the skip list of the tests' tool module")]
#[path = "src/testing/tools.rs"]
mod tools;

fn main() {
    tools::emit_skip_cfgs();
}
