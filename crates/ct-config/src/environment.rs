//! Which environment a configuration is for: it selects the presets.

/// The presets `environment` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub const ALL: [Environment; 3] = [Environment::Development, Environment::Staging, Environment::Production];

    pub fn name(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Environment, String> {
        let value = value.trim().to_ascii_lowercase();
        match value.as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "staging" => Ok(Environment::Staging),
            "production" | "prod" => Ok(Environment::Production),
            _ => Err("expected development, staging or production".to_owned()),
        }
    }
}
