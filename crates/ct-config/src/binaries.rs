//! The binaries that read the configuration.

/// The binaries that read the configuration; each reads the keys that name it in `used_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Cli,
    Worker,
    Executor,
    TestRunner,
    Notifier,
    MetricsSink,
    Gateway,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::Cli,
        Service::Worker,
        Service::Executor,
        Service::TestRunner,
        Service::Notifier,
        Service::MetricsSink,
        Service::Gateway,
    ];

    /// As `config show --service` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Service::Cli => "cli",
            Service::Worker => "worker",
            Service::Executor => "executor",
            Service::TestRunner => "test-runner",
            Service::Notifier => "notifier",
            Service::MetricsSink => "metrics-sink",
            Service::Gateway => "gateway",
        }
    }

    /// The process that runs it, for messages.
    pub fn binary(self) -> &'static str {
        match self {
            Service::Cli => "claude-temporal",
            Service::Worker => "ct-worker",
            Service::Executor => "ct-executor",
            Service::TestRunner => "ct-test-runner",
            Service::Notifier => "ct-notifier",
            Service::MetricsSink => "ct-metrics-sink",
            Service::Gateway => "ct-gateway",
        }
    }

    pub fn parse(name: &str) -> Result<Service, String> {
        Service::ALL.into_iter().find(|s| s.name() == name || s.binary() == name).ok_or_else(|| {
            let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
            format!("unknown service `{name}`; expected one of {}", names.join(", "))
        })
    }
}
