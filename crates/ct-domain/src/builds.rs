//! Names of the fleet's builds in Temporal's Worker Deployments.

/// Checks a deployment name or build id. Temporal shows a build as `<deployment>:<build id>`,
/// and visibility queries quote it: a name keeps to characters that mean nothing there.
pub fn check_label(value: &str) -> Result<(), String> {
    let fits = (1..=100).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits { Ok(()) } else { Err("expected 1 to 100 letters, digits, `-`, `_` or `.`".to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_to_characters_that_mean_nothing_in_a_query() {
        assert!(check_label("0.1.0").is_ok() && check_label("3f2a9c1_release-7").is_ok());
        for bad in ["", "a:b", "x' OR '1'='1", "two words", &"x".repeat(101)] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
    }
}
