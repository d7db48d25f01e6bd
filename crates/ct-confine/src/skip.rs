//! How a test says it cannot run on this machine: the sandbox's tests depend on kernel features
//! (Landlock, user namespaces) and the test-runner's on tools (npm, go) a machine may lack.

/// The variable that turns every skip into a failure. `.ci/run` sets it, having installed every
/// tool: CI skips nothing, and a tool that went missing there fails loudly instead of passing.
pub const NO_SKIP_VAR: &str = "CT_NO_SKIP";

/// Says on stderr that the calling test does not run here because `missing` is not there, so
/// that a passing test that checked nothing is told apart from one that checked; the caller then
/// returns. With `CT_NO_SKIP` set it panics instead.
pub fn skip_test(missing: &str) {
    assert!(
        std::env::var_os(NO_SKIP_VAR).is_none(),
        "{missing}, and {NO_SKIP_VAR} is set: install it (.ci/run and scripts/install-tools.sh say how) rather than skip"
    );
    eprintln!("SKIPPED: {missing}");
}
